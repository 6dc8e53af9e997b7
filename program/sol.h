/* Minimal Solana C SDK subset for upstream `clang -target bpf` (SBPFv0 ABI).
   Adapted from /work/shared/solana-program/sol.h (the build there is documented in
   docs/CHANNEL-PROGRAM.md): adds the clock, rent and PDA-search syscalls. */
#pragma once
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned int uint32_t;
typedef unsigned short uint16_t;
typedef unsigned char uint8_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)
#define UINT8_MAX 0xff
#define MAX_PERMITTED_DATA_INCREASE (1024 * 10)
#define SUCCESS 0
#define ERROR_CUSTOM(n) ((uint64_t)(n))            /* custom program error n (n != 0) */
#define ERROR_INVALID_ARGUMENT (2ULL << 32)
#define ERROR_INVALID_INSTRUCTION_DATA (3ULL << 32)
#define ERROR_NOT_ENOUGH_ACCOUNT_KEYS (11ULL << 32)

typedef struct { uint8_t x[32]; } SolPubkey;

typedef struct {
  SolPubkey *key;
  uint64_t *lamports;
  uint64_t data_len;
  uint8_t *data;
  SolPubkey *owner;
  uint64_t rent_epoch;
  bool is_signer;
  bool is_writable;
  bool executable;
} SolAccountInfo;

typedef struct { SolPubkey *pubkey; bool is_writable; bool is_signer; } SolAccountMeta;
typedef struct {
  SolPubkey *program_id;
  SolAccountMeta *accounts;
  uint64_t account_len;
  uint8_t *data;
  uint64_t data_len;
} SolInstruction;
typedef struct { const uint8_t *addr; uint64_t len; } SolSignerSeed;
typedef struct { const SolSignerSeed *addr; uint64_t len; } SolSignerSeeds;

/* The Clock sysvar (repr(C), 40 bytes). */
typedef struct {
  uint64_t slot;
  int64_t epoch_start_timestamp;
  uint64_t epoch;
  uint64_t leader_schedule_epoch;
  int64_t unix_timestamp;
} SolClock;

/* The Rent sysvar (repr(C): u64, f64, u8 -> 24 bytes). The f64 is kept as its bits:
   SBPFv0 has no floating point. */
typedef struct {
  uint64_t lamports_per_byte_year;
  uint64_t exemption_threshold_bits;
  uint8_t burn_percent;
  uint8_t pad[7];
} SolRent;

typedef struct {
  SolAccountInfo *ka;
  uint64_t ka_num;
  const uint8_t *data;
  uint64_t data_len;
  const SolPubkey *program_id;
} SolParameters;

/* syscalls: resolved by the loader by name (murmur3) via R_BPF_64_32 */
extern void sol_log_(const char *, uint64_t);
extern void sol_log_64_(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
extern void sol_log_pubkey(const SolPubkey *);
extern void sol_panic_(const char *, uint64_t, uint64_t, uint64_t);
extern uint64_t sol_invoke_signed_c(const SolInstruction *, const SolAccountInfo *, uint64_t,
                                    const SolSignerSeeds *, uint64_t);
extern uint64_t sol_create_program_address(const SolSignerSeed *, uint64_t, const SolPubkey *, SolPubkey *);
extern uint64_t sol_sha256(const void *vals, uint64_t len, uint8_t *out);
extern void sol_memcpy_(void *, const void *, uint64_t);
/* PDA search: tries bump 255 down to 0; writes the address and the bump. 0 on success. */
extern uint64_t sol_try_find_program_address(const SolSignerSeed *, uint64_t, const SolPubkey *, SolPubkey *, uint8_t *);
/* Sysvars copied into caller memory (no account needed). 0 on success. */
extern uint64_t sol_get_clock_sysvar(void *out);
extern uint64_t sol_get_rent_sysvar(void *out);
extern int sol_memcmp_(const void *, const void *, uint64_t, int *);

/* Solana heap region (32 KiB by default); upstream clang caps a BPF stack frame at 512 bytes,
   so big locals go here. */
#define SOL_HEAP ((uint8_t *)0x300000000ULL)
#define SOL_HEAP_LEN (32 * 1024)

#define sol_log(s) sol_log_(s, sizeof(s) - 1)

static inline bool sol_key_eq(const SolPubkey *a, const SolPubkey *b) {
  const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;  /* keys are 8-aligned in input */
  return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/* Same as the Solana C SDK's sol_deserialize (loader v2 / upgradeable, ABI v1 layout). */
static bool sol_deserialize(const uint8_t *input, SolParameters *params, uint64_t ka_num) {
  if (NULL == input || NULL == params) return false;
  params->ka_num = *(uint64_t *)input;
  input += sizeof(uint64_t);
  for (uint64_t i = 0; i < params->ka_num; i++) {
    uint8_t dup_info = input[0];
    input += sizeof(uint8_t);
    if (i >= ka_num) {
      if (dup_info == UINT8_MAX) {
        input += 3 + 4 + 32 + 32 + 8;
        uint64_t data_len = *(uint64_t *)input;
        input += 8 + data_len + MAX_PERMITTED_DATA_INCREASE;
        input = (uint8_t *)(((uint64_t)input + 7) & ~7ULL);
        input += 8;
      } else {
        input += 7;
      }
      continue;
    }
    if (dup_info == UINT8_MAX) {
      params->ka[i].is_signer = *input; input += 1;
      params->ka[i].is_writable = *input; input += 1;
      params->ka[i].executable = *input; input += 1;
      input += 4;
      params->ka[i].key = (SolPubkey *)input; input += 32;
      params->ka[i].owner = (SolPubkey *)input; input += 32;
      params->ka[i].lamports = (uint64_t *)input; input += 8;
      params->ka[i].data_len = *(uint64_t *)input; input += 8;
      params->ka[i].data = (uint8_t *)input;
      input += params->ka[i].data_len + MAX_PERMITTED_DATA_INCREASE;
      input = (uint8_t *)(((uint64_t)input + 7) & ~7ULL);
      params->ka[i].rent_epoch = *(uint64_t *)input; input += 8;
    } else {
      params->ka[i] = params->ka[dup_info];
      input += 7;
    }
  }
  params->data_len = *(uint64_t *)input;
  input += sizeof(uint64_t);
  params->data = input;
  input += params->data_len;
  params->program_id = (SolPubkey *)input;
  return true;
}
