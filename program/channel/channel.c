/*
 * SeedPay payment-channel escrow (docs/CHANNEL-PROGRAM.md, /work/CHANNEL-SPEC.md).
 *
 * A buyer locks tokens in a vault owned by a channel PDA; the seller claims with the
 * buyer's latest voucher (an ed25519 signature over the cumulative amount, checked by
 * the Ed25519 precompile instruction right before the claim); after expiry the buyer
 * takes back what was not claimed. Every close path returns all rent to the buyer.
 *
 * Built with upstream clang for BPF and program/sbflink.py into an SBPFv0 object (see
 * program/build.sh). The rules that imposes: one C file, one .text section, no writable
 * globals, at most 5 arguments per call, 512-byte stack frames (so the account array
 * lives on the heap). The runtime checks nothing about our accounts: every owner, key
 * and signer is checked here, before any CPI.
 */
#include "../sol.h"

/* ---- error codes (custom program error N; names in payment/channel/program.ts) ---- */
#define E_INVALID_INSTRUCTION_DATA 1
#define E_NOT_ENOUGH_ACCOUNTS 2
#define E_MISSING_SIGNATURE 3
#define E_WRONG_ACCOUNT_OWNER 4
#define E_WRONG_CHANNEL_ADDRESS 5
#define E_WRONG_VAULT 6
#define E_WRONG_MINT 7
#define E_WRONG_TOKEN_ACCOUNT 8
#define E_ALREADY_OPEN 9
#define E_CHANNEL_CLOSED 10
#define E_WRONG_BUYER 11
#define E_WRONG_SELLER 12
#define E_CHANNEL_EXPIRED 13
#define E_NOT_EXPIRED 14
#define E_EXPIRY_IN_PAST 15
#define E_EXPIRY_NOT_LATER 16
#define E_VOUCHER_MISSING 17
#define E_VOUCHER_MISMATCH 18
#define E_AMOUNT_BELOW_CLAIMED 19
#define E_AMOUNT_ABOVE_DEPOSIT 20
#define E_ARITHMETIC_OVERFLOW 21
#define E_ZERO_AMOUNT 22
#define E_WRONG_PROGRAM 23

/* ---- channel state account (200 bytes) ---- */
#define STATE_LEN 200
#define STATE_VERSION 1
#define OFF_VERSION 0
#define OFF_BUMP 1
#define OFF_BUYER 8
#define OFF_SELLER 40
#define OFF_MINT 72
#define OFF_VAULT 104
#define OFF_VOUCHER_KEY 136
#define OFF_DEPOSIT 168
#define OFF_CLAIMED 176
#define OFF_EXPIRY 184
#define OFF_NONCE 192

/* ---- SPL Token account layout (classic Token program, 165 bytes) ---- */
#define TOKEN_ACCOUNT_LEN 165
#define MINT_LEN 82
#define TA_MINT 0
#define TA_OWNER 32
#define TA_AMOUNT 64
#define TA_DELEGATE_TAG 72
#define TA_STATE 108
#define TA_CLOSE_AUTHORITY_TAG 129
#define TA_STATE_INITIALIZED 1

#define TOKEN_IX_TRANSFER 3
#define TOKEN_IX_CLOSE_ACCOUNT 9

#define MAX_ACCOUNTS 8
#define VOUCHER_LEN 90 /* domain 18 + program 32 + channel 32 + amount 8 */

/* Aligned so that sol_key_eq's 8-byte loads never straddle. */
#define NOINLINE __attribute__((noinline))
#define KEY const SolPubkey __attribute__((aligned(8)))
static KEY TOKEN_ID = {{6, 221, 246, 225, 215, 101, 161, 147, 217, 203, 225, 70, 206, 235, 121, 172,
                        28, 180, 133, 237, 95, 91, 55, 145, 58, 140, 245, 133, 126, 255, 0, 169}};
static KEY ATA_ID = {{140, 151, 37, 143, 78, 36, 137, 241, 187, 61, 16, 41, 20, 142, 13, 131,
                      11, 90, 19, 153, 218, 255, 16, 132, 4, 142, 123, 216, 219, 233, 248, 89}};
static KEY ED25519_ID = {{3, 125, 70, 214, 124, 147, 251, 190, 18, 249, 66, 143, 131, 141, 64, 255,
                          5, 112, 116, 73, 39, 244, 138, 100, 252, 202, 112, 68, 128, 0, 0, 0}};
static KEY IX_SYSVAR_ID = {{6, 167, 213, 23, 24, 123, 209, 102, 53, 218, 212, 4, 85, 253, 194, 192,
                            193, 36, 198, 143, 33, 86, 117, 165, 219, 186, 203, 95, 8, 0, 0, 0}};
static const uint8_t DOMAIN[18] = {'s', 'e', 'e', 'd', 'p', 'a', 'y', '-', 'c', 'h',
                                   'a', 'n', 'n', 'e', 'l', '-', 'v', '1'};
static const uint8_t SEED_CHANNEL[7] = {'c', 'h', 'a', 'n', 'n', 'e', 'l'};

/* ---- small helpers (byte-wise: instruction data and sysvar data are not aligned) ---- */
static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static void wr64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) { p[i] = (uint8_t)v; v >>= 8; }
}
static uint64_t rd16(const uint8_t *p) { return (uint64_t)p[0] | ((uint64_t)p[1] << 8); }
static bool bytes_eq(const uint8_t *a, const uint8_t *b, uint64_t n) {
  for (uint64_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}
static void bytes_copy(uint8_t *d, const uint8_t *s, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) d[i] = s[i];
}
static void bytes_zero(uint8_t *d, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) d[i] = 0;
}
static bool key_is_zero(const SolPubkey *k) {
  const uint64_t *x = (const uint64_t *)k;
  return (x[0] | x[1] | x[2] | x[3]) == 0;
}

/* Everything an instruction handler needs (handlers take one pointer: ≤5 arguments). */
typedef struct {
  SolAccountInfo *ka;
  uint64_t nka;
  const uint8_t *data;
  uint64_t dlen;
  const SolPubkey *program_id;
} Ctx;

NOINLINE static uint64_t now_unix(int64_t *out) {
  SolClock clock;
  if (sol_get_clock_sysvar(&clock) != 0) return E_WRONG_PROGRAM;
  *out = clock.unix_timestamp;
  return 0;
}

/* Rent-exempt minimum for `data_len` bytes: (128 + len) * lamports_per_byte_year * threshold.
   The threshold is an f64 (2.0 on every cluster so far); SBPFv0 has no floating point, so it
   is decoded as mantissa * 2^exp with the mantissa's trailing zeros dropped (exact for 2.0,
   1.0 and every other short binary fraction; anything else is refused rather than guessed). */
NOINLINE static uint64_t rent_exempt_minimum(uint64_t data_len, uint64_t *out) {
  SolRent rent;
  if (sol_get_rent_sysvar(&rent) != 0) return E_WRONG_PROGRAM;
  /* Bounds instead of division-based overflow checks: clang turns those into a 128-bit
     multiply (__multi3), which BPF does not have. data_len ≤ 1024: base < 2^51. */
  uint64_t bytes = 128 + data_len;
  uint64_t lpby = rent.lamports_per_byte_year;
  if (data_len > 1024 || lpby > (1ULL << 40)) return E_ARITHMETIC_OVERFLOW;
  uint64_t base = bytes * lpby;
  uint64_t bits = rent.exemption_threshold_bits;
  if (bits >> 63) return E_ARITHMETIC_OVERFLOW;
  uint64_t exp = (bits >> 52) & 0x7ff;
  if (exp == 0) { *out = 0; return 0; } /* zero (or subnormal): nothing to hold */
  if (exp == 0x7ff) return E_ARITHMETIC_OVERFLOW;
  uint64_t man = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
  int64_t shift = (int64_t)exp - 1075;
  while ((man & 1) == 0) { man >>= 1; shift++; }
  if (man > (1ULL << 12)) return E_ARITHMETIC_OVERFLOW; /* base * man < 2^61 */
  uint64_t v = base * man;
  if (shift >= 0) {
    if (shift > 8 || v > ((uint64_t)-1 >> shift)) return E_ARITHMETIC_OVERFLOW;
    v <<= shift;
  } else {
    v = (-shift >= 64) ? 0 : v >> (-shift);
  }
  *out = v;
  return 0;
}

/* A token account of the classic Token program, of `mint`, whose authority is `authority`. */
static uint64_t check_token_account(const SolAccountInfo *a, const SolPubkey *mint, const SolPubkey *authority) {
  if (!sol_key_eq(a->owner, &TOKEN_ID)) return E_WRONG_ACCOUNT_OWNER;
  if (a->data_len != TOKEN_ACCOUNT_LEN || a->data[TA_STATE] == 0) return E_WRONG_TOKEN_ACCOUNT;
  if (!sol_key_eq((const SolPubkey *)(a->data + TA_MINT), mint)) return E_WRONG_MINT;
  if (!sol_key_eq((const SolPubkey *)(a->data + TA_OWNER), authority)) return E_WRONG_TOKEN_ACCOUNT;
  return 0;
}

/* The vault: a token account of `mint` whose authority is the channel PDA, with nobody else
   able to move or close it (no delegate, no close authority), not frozen. */
static uint64_t check_vault(const SolAccountInfo *v, const SolPubkey *mint, const SolPubkey *channel) {
  if (!sol_key_eq(v->owner, &TOKEN_ID)) return E_WRONG_ACCOUNT_OWNER;
  if (v->data_len != TOKEN_ACCOUNT_LEN) return E_WRONG_VAULT;
  const uint8_t *d = v->data;
  if (!sol_key_eq((const SolPubkey *)(d + TA_MINT), mint)) return E_WRONG_VAULT;
  if (!sol_key_eq((const SolPubkey *)(d + TA_OWNER), channel)) return E_WRONG_VAULT;
  if (d[TA_STATE] != TA_STATE_INITIALIZED) return E_WRONG_VAULT;
  if (rd64(d + TA_DELEGATE_TAG) & 0xffffffffULL) return E_WRONG_VAULT; /* COption tag (u32) */
  if (rd64(d + TA_CLOSE_AUTHORITY_TAG) & 0xffffffffULL) return E_WRONG_VAULT;
  return 0;
}

/* The channel state account: ours, initialised, this version. Anything the system program
   owns (never created, or closed) reads as ChannelClosed. */
static uint64_t load_channel(const SolAccountInfo *chan, const SolPubkey *program_id, uint8_t **state) {
  if (!sol_key_eq(chan->owner, program_id)) {
    return key_is_zero(chan->owner) ? E_CHANNEL_CLOSED : E_WRONG_ACCOUNT_OWNER;
  }
  if (chan->data_len != STATE_LEN || chan->data[OFF_VERSION] != STATE_VERSION) return E_CHANNEL_CLOSED;
  if (!chan->is_writable) return E_WRONG_CHANNEL_ADDRESS;
  *state = chan->data;
  return 0;
}

/* Signer seeds of the channel PDA: "channel", buyer, seller, mint, nonce (u64 LE), bump.
   `seeds` has room for 6; pointers go into `st` (the state data, or a scratch copy at open). */
static void channel_seeds(SolSignerSeed *seeds, const uint8_t *st) {
  seeds[0].addr = SEED_CHANNEL; seeds[0].len = sizeof(SEED_CHANNEL);
  seeds[1].addr = st + OFF_BUYER; seeds[1].len = 32;
  seeds[2].addr = st + OFF_SELLER; seeds[2].len = 32;
  seeds[3].addr = st + OFF_MINT; seeds[3].len = 32;
  seeds[4].addr = st + OFF_NONCE; seeds[4].len = 8;
  seeds[5].addr = st + OFF_BUMP; seeds[5].len = 1;
}

/* The channel account is the PDA its own state names (it can sign for the vault). */
NOINLINE static uint64_t check_channel_address(const SolAccountInfo *chan, const SolPubkey *program_id, SolSignerSeed *seeds) {
  channel_seeds(seeds, chan->data);
  SolPubkey expect;
  if (sol_create_program_address(seeds, 6, program_id, &expect) != 0) return E_WRONG_CHANNEL_ADDRESS;
  if (!sol_key_eq(&expect, chan->key)) return E_WRONG_CHANNEL_ADDRESS;
  return 0;
}

/* ---- CPIs (all account infos of the instruction are passed: the runtime picks the ones the
   callee needs and writes their new state back into ctx->ka) ---- */
typedef struct {
  const SolPubkey *program;
  const SolPubkey *a, *b, *auth;
  uint64_t amount;
  const SolSignerSeeds *signer; /* NULL: the authority signed the transaction itself */
} TokenCall;

NOINLINE static uint64_t token_transfer(const Ctx *c, const TokenCall *t) {
  uint8_t data[9];
  data[0] = TOKEN_IX_TRANSFER;
  wr64(data + 1, t->amount);
  SolAccountMeta m[3] = {{(SolPubkey *)t->a, true, false}, {(SolPubkey *)t->b, true, false},
                         {(SolPubkey *)t->auth, false, true}};
  SolInstruction ix = {(SolPubkey *)t->program, m, 3, data, sizeof(data)};
  return sol_invoke_signed_c(&ix, c->ka, c->nka, t->signer, t->signer ? 1 : 0);
}

NOINLINE static uint64_t token_close(const Ctx *c, const TokenCall *t) {
  uint8_t data[1] = {TOKEN_IX_CLOSE_ACCOUNT};
  SolAccountMeta m[3] = {{(SolPubkey *)t->a, true, false}, {(SolPubkey *)t->b, true, false},
                         {(SolPubkey *)t->auth, false, true}};
  SolInstruction ix = {(SolPubkey *)t->program, m, 3, data, sizeof(data)};
  return sol_invoke_signed_c(&ix, c->ka, c->nka, t->signer, 1);
}

/* System program instruction with up to 52 bytes of data, `from` → `to` (or one account). */
typedef struct {
  const SolPubkey *program, *from, *to; /* from == NULL: one-account instruction on `to` */
  const uint8_t *data;
  uint64_t len;
  const SolSignerSeeds *signer;
} SysCall;

NOINLINE static uint64_t system_call(const Ctx *c, const SysCall *s) {
  SolAccountMeta m[2];
  uint64_t n = 0;
  if (s->from) { m[n].pubkey = (SolPubkey *)s->from; m[n].is_writable = true; m[n].is_signer = true; n++; }
  m[n].pubkey = (SolPubkey *)s->to; m[n].is_writable = true; m[n].is_signer = true; n++;
  SolInstruction ix = {(SolPubkey *)s->program, m, n, (uint8_t *)s->data, s->len};
  return sol_invoke_signed_c(&ix, c->ka, c->nka, s->signer, 1);
}

/* ---- the voucher: the previous instruction must be the Ed25519 precompile over
   "seedpay-channel-v1" || program id || channel || amount (u64 LE), by the voucher key ---- */

/* Instructions sysvar: u16 n; u16 offsets[n]; per instruction: u16 naccounts;
   naccounts × (u8 flags, 32 key); 32 program id; u16 data_len; data. Then u16 current index. */
typedef struct { const uint8_t *prog, *data; uint64_t dlen; } IxView;

static bool load_ix(const uint8_t *d, uint64_t len, uint64_t idx, IxView *v) {
  if (len < 2) return false;
  uint64_t n = rd16(d);
  if (idx >= n || 2 + 2 * n > len) return false;
  uint64_t off = rd16(d + 2 + 2 * idx);
  if (off + 2 > len) return false;
  uint64_t nacc = rd16(d + off);
  off += 2 + 33 * nacc;
  if (off + 34 > len) return false;
  v->prog = d + off;
  v->dlen = rd16(d + off + 32);
  off += 34;
  if (off + v->dlen > len) return false;
  v->data = d + off;
  return true;
}

typedef struct {
  const SolAccountInfo *ixs;
  const SolPubkey *program_id;
  const SolPubkey *channel;
  const uint8_t *voucher_key;
  const uint8_t *amount_le;
} VoucherCheck;

NOINLINE static uint64_t check_voucher(const VoucherCheck *vc) {
  const uint8_t *sv = vc->ixs->data;
  uint64_t len = vc->ixs->data_len;
  if (len < 4) return E_VOUCHER_MISSING;
  uint64_t cur = rd16(sv + len - 2);
  if (cur == 0) return E_VOUCHER_MISSING;
  IxView v;
  if (!load_ix(sv, len - 2, cur - 1, &v)) return E_VOUCHER_MISSING;
  if (!bytes_eq(v.prog, ED25519_ID.x, 32)) return E_VOUCHER_MISSING;
  const uint8_t *ed = v.data;
  uint64_t edlen = v.dlen;
  /* exactly one signature, its offsets (7 × u16 after 2 header bytes) all into this data */
  if (edlen < 16 || ed[0] != 1) return E_VOUCHER_MISMATCH;
  const uint8_t *o = ed + 2;
  uint64_t sig_off = rd16(o), sig_ix = rd16(o + 2), pk_off = rd16(o + 4), pk_ix = rd16(o + 6);
  uint64_t msg_off = rd16(o + 8), msg_len = rd16(o + 10), msg_ix = rd16(o + 12);
  if (sig_ix != 0xffff || pk_ix != 0xffff || msg_ix != 0xffff) return E_VOUCHER_MISMATCH;
  if (sig_off + 64 > edlen || pk_off + 32 > edlen || msg_off + msg_len > edlen) return E_VOUCHER_MISMATCH;
  if (!bytes_eq(ed + pk_off, vc->voucher_key, 32)) return E_VOUCHER_MISMATCH;
  if (msg_len != VOUCHER_LEN) return E_VOUCHER_MISMATCH;
  const uint8_t *m = ed + msg_off;
  if (!bytes_eq(m, DOMAIN, 18)) return E_VOUCHER_MISMATCH;
  if (!bytes_eq(m + 18, vc->program_id->x, 32)) return E_VOUCHER_MISMATCH;
  if (!bytes_eq(m + 50, vc->channel->x, 32)) return E_VOUCHER_MISMATCH;
  if (!bytes_eq(m + 82, vc->amount_le, 8)) return E_VOUCHER_MISMATCH;
  return 0;
}

/* ---- close: everything left in the vault to the buyer's token account, the vault closed
   (its rent to the buyer), the state account emptied, shrunk and given back to the system
   program (its rent to the buyer) ---- */
typedef struct {
  SolAccountInfo *chan, *vault, *buyer, *buyer_tokens, *token;
  const SolSignerSeeds *signer;
} CloseArgs;

NOINLINE static uint64_t close_channel(const Ctx *c, const CloseArgs *a) {
  uint64_t left = rd64(a->vault->data + TA_AMOUNT);
  TokenCall t = {a->token->key, a->vault->key, a->buyer_tokens->key, a->chan->key, left, a->signer};
  uint64_t rc;
  if (left > 0 && (rc = token_transfer(c, &t)) != 0) return rc;
  t.b = a->buyer->key;
  if ((rc = token_close(c, &t)) != 0) return rc;
  uint64_t rent = *a->chan->lamports;
  if (*a->buyer->lamports > (uint64_t)-1 - rent) return E_ARITHMETIC_OVERFLOW;
  *a->buyer->lamports += rent;
  *a->chan->lamports = 0;
  bytes_zero(a->chan->data, a->chan->data_len);
  *(uint64_t *)(a->chan->data - 8) = 0; /* serialized data length: realloc to 0 */
  a->chan->data_len = 0;
  bytes_zero(a->chan->owner->x, 32);     /* assign to the system program */
  return 0;
}

/* ---- 0 open [0][nonce u64][deposit u64][expiry i64][voucher_key 32]
   accounts: 0 buyer (signer, writable), 1 channel PDA (writable), 2 vault = ATA(channel, mint)
   (writable), 3 buyer's token account (writable), 4 seller, 5 mint, 6 system program,
   7 token program ---- */
NOINLINE static uint64_t ix_open(const Ctx *c) {
  if (c->dlen != 57) return E_INVALID_INSTRUCTION_DATA;
  if (c->nka < 8) return E_NOT_ENOUGH_ACCOUNTS;
  SolAccountInfo *ka = c->ka;
  SolAccountInfo *buyer = &ka[0], *chan = &ka[1], *vault = &ka[2], *src = &ka[3];
  SolAccountInfo *seller = &ka[4], *mint = &ka[5], *sys = &ka[6], *tok = &ka[7];
  const uint8_t *nonce_le = c->data + 1;
  uint64_t deposit = rd64(c->data + 9);
  int64_t expiry = (int64_t)rd64(c->data + 17);
  const uint8_t *voucher_key = c->data + 25;
  uint64_t rc;

  if (!buyer->is_signer) return E_MISSING_SIGNATURE;
  if (!key_is_zero(sys->key) || !sol_key_eq(tok->key, &TOKEN_ID)) return E_WRONG_PROGRAM;
  if (deposit == 0) return E_ZERO_AMOUNT;
  int64_t now;
  if ((rc = now_unix(&now)) != 0) return rc;
  if (expiry <= now) return E_EXPIRY_IN_PAST;
  if (!sol_key_eq(mint->owner, &TOKEN_ID)) return E_WRONG_ACCOUNT_OWNER;
  if (mint->data_len != MINT_LEN) return E_WRONG_MINT;

  /* the channel address: PDA of ["channel", buyer, seller, mint, nonce] */
  SolSignerSeed seeds[6] = {{SEED_CHANNEL, sizeof(SEED_CHANNEL)}, {buyer->key->x, 32}, {seller->key->x, 32},
                            {mint->key->x, 32}, {nonce_le, 8}, {NULL, 1}};
  SolPubkey pda;
  uint8_t bump;
  if (sol_try_find_program_address(seeds, 5, c->program_id, &pda, &bump) != 0) return E_WRONG_CHANNEL_ADDRESS;
  if (!sol_key_eq(&pda, chan->key)) return E_WRONG_CHANNEL_ADDRESS;
  seeds[5].addr = &bump;
  if (sol_key_eq(chan->owner, c->program_id)) return E_ALREADY_OPEN;
  if (!key_is_zero(chan->owner)) return E_WRONG_ACCOUNT_OWNER;
  if (chan->data_len != 0) return E_ALREADY_OPEN;

  /* the vault: the associated token account of the channel for the mint */
  SolSignerSeed ata_seeds[3] = {{chan->key->x, 32}, {TOKEN_ID.x, 32}, {mint->key->x, 32}};
  SolPubkey ata;
  uint8_t ata_bump;
  if (sol_try_find_program_address(ata_seeds, 3, &ATA_ID, &ata, &ata_bump) != 0) return E_WRONG_VAULT;
  if (!sol_key_eq(&ata, vault->key)) return E_WRONG_VAULT;
  if ((rc = check_vault(vault, mint->key, chan->key)) != 0) return rc;
  if ((rc = check_token_account(src, mint->key, buyer->key)) != 0) return rc;

  /* the state account, funded by the buyer. Someone may have sent lamports to the address
     already (create_account would refuse it): then top up, allocate and assign instead. */
  uint64_t rent;
  if ((rc = rent_exempt_minimum(STATE_LEN, &rent)) != 0) return rc;
  SolSignerSeeds signer = {seeds, 6};
  uint8_t sd[52];
  SysCall s = {sys->key, buyer->key, chan->key, sd, 0, &signer};
  if (*chan->lamports == 0) {
    sd[0] = 0; sd[1] = 0; sd[2] = 0; sd[3] = 0; /* CreateAccount */
    wr64(sd + 4, rent);
    wr64(sd + 12, STATE_LEN);
    bytes_copy(sd + 20, c->program_id->x, 32);
    s.len = 52;
    if ((rc = system_call(c, &s)) != 0) return rc;
  } else {
    if (*chan->lamports < rent) {
      sd[0] = 2; sd[1] = 0; sd[2] = 0; sd[3] = 0; /* Transfer */
      wr64(sd + 4, rent - *chan->lamports);
      s.len = 12;
      if ((rc = system_call(c, &s)) != 0) return rc;
    }
    s.from = NULL;
    sd[0] = 8; /* Allocate */
    wr64(sd + 4, STATE_LEN);
    s.len = 12;
    if ((rc = system_call(c, &s)) != 0) return rc;
    sd[0] = 1; /* Assign */
    bytes_copy(sd + 4, c->program_id->x, 32);
    s.len = 36;
    if ((rc = system_call(c, &s)) != 0) return rc;
  }
  if (*(uint64_t *)(chan->data - 8) != STATE_LEN || !sol_key_eq(chan->owner, c->program_id)) return E_WRONG_CHANNEL_ADDRESS;
  chan->data_len = STATE_LEN;

  /* the deposit: buyer's token account → vault, the buyer signed the transaction */
  TokenCall t = {tok->key, src->key, vault->key, buyer->key, deposit, NULL};
  if ((rc = token_transfer(c, &t)) != 0) return rc;

  uint8_t *st = chan->data;
  bytes_zero(st, STATE_LEN);
  st[OFF_VERSION] = STATE_VERSION;
  st[OFF_BUMP] = bump;
  bytes_copy(st + OFF_BUYER, buyer->key->x, 32);
  bytes_copy(st + OFF_SELLER, seller->key->x, 32);
  bytes_copy(st + OFF_MINT, mint->key->x, 32);
  bytes_copy(st + OFF_VAULT, vault->key->x, 32);
  bytes_copy(st + OFF_VOUCHER_KEY, voucher_key, 32);
  wr64(st + OFF_DEPOSIT, deposit);
  wr64(st + OFF_CLAIMED, 0);
  wr64(st + OFF_EXPIRY, (uint64_t)expiry);
  bytes_copy(st + OFF_NONCE, nonce_le, 8);
  return 0;
}

/* ---- 1 top_up [1][amount u64]
   accounts: 0 buyer (signer), 1 channel (writable), 2 vault (writable), 3 buyer's token
   account (writable), 4 token program ---- */
NOINLINE static uint64_t ix_top_up(const Ctx *c) {
  if (c->dlen != 9) return E_INVALID_INSTRUCTION_DATA;
  if (c->nka < 5) return E_NOT_ENOUGH_ACCOUNTS;
  SolAccountInfo *ka = c->ka;
  SolAccountInfo *buyer = &ka[0], *chan = &ka[1], *vault = &ka[2], *src = &ka[3], *tok = &ka[4];
  uint64_t amount = rd64(c->data + 1);
  uint64_t rc;
  uint8_t *st;

  if (!buyer->is_signer) return E_MISSING_SIGNATURE;
  if (!sol_key_eq(tok->key, &TOKEN_ID)) return E_WRONG_PROGRAM;
  if ((rc = load_channel(chan, c->program_id, &st)) != 0) return rc;
  if (!sol_key_eq(buyer->key, (const SolPubkey *)(st + OFF_BUYER))) return E_WRONG_BUYER;
  if (amount == 0) return E_ZERO_AMOUNT;
  int64_t now;
  if ((rc = now_unix(&now)) != 0) return rc;
  if (now >= (int64_t)rd64(st + OFF_EXPIRY)) return E_CHANNEL_EXPIRED;
  uint64_t deposit = rd64(st + OFF_DEPOSIT);
  if (deposit > (uint64_t)-1 - amount) return E_ARITHMETIC_OVERFLOW;
  if (!sol_key_eq(vault->key, (const SolPubkey *)(st + OFF_VAULT))) return E_WRONG_VAULT;
  if ((rc = check_vault(vault, (const SolPubkey *)(st + OFF_MINT), chan->key)) != 0) return rc;
  if ((rc = check_token_account(src, (const SolPubkey *)(st + OFF_MINT), buyer->key)) != 0) return rc;

  TokenCall t = {tok->key, src->key, vault->key, buyer->key, amount, NULL};
  if ((rc = token_transfer(c, &t)) != 0) return rc;
  wr64(st + OFF_DEPOSIT, deposit + amount);
  return 0;
}

/* ---- 2 extend [2][new_expiry i64]
   accounts: 0 buyer (signer), 1 channel (writable) ---- */
NOINLINE static uint64_t ix_extend(const Ctx *c) {
  if (c->dlen != 9) return E_INVALID_INSTRUCTION_DATA;
  if (c->nka < 2) return E_NOT_ENOUGH_ACCOUNTS;
  SolAccountInfo *buyer = &c->ka[0], *chan = &c->ka[1];
  int64_t expiry = (int64_t)rd64(c->data + 1);
  uint64_t rc;
  uint8_t *st;
  if (!buyer->is_signer) return E_MISSING_SIGNATURE;
  if ((rc = load_channel(chan, c->program_id, &st)) != 0) return rc;
  if (!sol_key_eq(buyer->key, (const SolPubkey *)(st + OFF_BUYER))) return E_WRONG_BUYER;
  if (expiry <= (int64_t)rd64(st + OFF_EXPIRY)) return E_EXPIRY_NOT_LATER;
  wr64(st + OFF_EXPIRY, (uint64_t)expiry);
  return 0;
}

/* ---- 3 claim [3][amount u64][close u8]
   accounts: 0 seller (signer), 1 channel (writable), 2 vault (writable), 3 seller's token
   account (writable), 4 buyer (writable: rent on close), 5 buyer's token account (writable:
   refund on close), 6 instructions sysvar, 7 token program ---- */
NOINLINE static uint64_t ix_claim(const Ctx *c) {
  if (c->dlen != 10) return E_INVALID_INSTRUCTION_DATA;
  uint8_t close = c->data[9];
  if (close > 1) return E_INVALID_INSTRUCTION_DATA;
  if (c->nka < 8) return E_NOT_ENOUGH_ACCOUNTS;
  SolAccountInfo *ka = c->ka;
  SolAccountInfo *seller = &ka[0], *chan = &ka[1], *vault = &ka[2], *dst = &ka[3];
  SolAccountInfo *buyer = &ka[4], *buyer_tokens = &ka[5], *ixs = &ka[6], *tok = &ka[7];
  const uint8_t *amount_le = c->data + 1;
  uint64_t amount = rd64(amount_le);
  uint64_t rc;
  uint8_t *st;

  if (!seller->is_signer) return E_MISSING_SIGNATURE;
  if (!sol_key_eq(ixs->key, &IX_SYSVAR_ID) || !sol_key_eq(tok->key, &TOKEN_ID)) return E_WRONG_PROGRAM;
  if ((rc = load_channel(chan, c->program_id, &st)) != 0) return rc;
  if (!sol_key_eq(seller->key, (const SolPubkey *)(st + OFF_SELLER))) return E_WRONG_SELLER;
  int64_t now;
  if ((rc = now_unix(&now)) != 0) return rc;
  if (now >= (int64_t)rd64(st + OFF_EXPIRY)) return E_CHANNEL_EXPIRED;
  VoucherCheck vc = {ixs, c->program_id, chan->key, st + OFF_VOUCHER_KEY, amount_le};
  if ((rc = check_voucher(&vc)) != 0) return rc;
  uint64_t claimed = rd64(st + OFF_CLAIMED);
  if (amount < claimed) return E_AMOUNT_BELOW_CLAIMED;
  if (amount > rd64(st + OFF_DEPOSIT)) return E_AMOUNT_ABOVE_DEPOSIT;
  SolSignerSeed seeds[6];
  if ((rc = check_channel_address(chan, c->program_id, seeds)) != 0) return rc;
  SolSignerSeeds signer = {seeds, 6};
  const SolPubkey *mint = (const SolPubkey *)(st + OFF_MINT);
  if (!sol_key_eq(vault->key, (const SolPubkey *)(st + OFF_VAULT))) return E_WRONG_VAULT;
  if ((rc = check_vault(vault, mint, chan->key)) != 0) return rc;
  if ((rc = check_token_account(dst, mint, seller->key)) != 0) return rc;
  if (close) {
    if (!sol_key_eq(buyer->key, (const SolPubkey *)(st + OFF_BUYER))) return E_WRONG_BUYER;
    if ((rc = check_token_account(buyer_tokens, mint, buyer->key)) != 0) return rc;
  }

  uint64_t pay = amount - claimed;
  if (pay > 0) {
    TokenCall t = {tok->key, vault->key, dst->key, chan->key, pay, &signer};
    if ((rc = token_transfer(c, &t)) != 0) return rc;
  }
  wr64(st + OFF_CLAIMED, amount);
  if (close) {
    CloseArgs a = {chan, vault, buyer, buyer_tokens, tok, &signer};
    return close_channel(c, &a);
  }
  return 0;
}

/* ---- 4 reclaim [4]
   accounts: 0 buyer (signer, writable), 1 channel (writable), 2 vault (writable), 3 buyer's
   token account (writable), 4 token program ---- */
NOINLINE static uint64_t ix_reclaim(const Ctx *c) {
  if (c->dlen != 1) return E_INVALID_INSTRUCTION_DATA;
  if (c->nka < 5) return E_NOT_ENOUGH_ACCOUNTS;
  SolAccountInfo *ka = c->ka;
  SolAccountInfo *buyer = &ka[0], *chan = &ka[1], *vault = &ka[2], *dst = &ka[3], *tok = &ka[4];
  uint64_t rc;
  uint8_t *st;
  if (!buyer->is_signer) return E_MISSING_SIGNATURE;
  if (!sol_key_eq(tok->key, &TOKEN_ID)) return E_WRONG_PROGRAM;
  if ((rc = load_channel(chan, c->program_id, &st)) != 0) return rc;
  if (!sol_key_eq(buyer->key, (const SolPubkey *)(st + OFF_BUYER))) return E_WRONG_BUYER;
  int64_t now;
  if ((rc = now_unix(&now)) != 0) return rc;
  if (now < (int64_t)rd64(st + OFF_EXPIRY)) return E_NOT_EXPIRED;
  SolSignerSeed seeds[6];
  if ((rc = check_channel_address(chan, c->program_id, seeds)) != 0) return rc;
  SolSignerSeeds signer = {seeds, 6};
  const SolPubkey *mint = (const SolPubkey *)(st + OFF_MINT);
  if (!sol_key_eq(vault->key, (const SolPubkey *)(st + OFF_VAULT))) return E_WRONG_VAULT;
  if ((rc = check_vault(vault, mint, chan->key)) != 0) return rc;
  if ((rc = check_token_account(dst, mint, buyer->key)) != 0) return rc;
  CloseArgs a = {chan, vault, buyer, dst, tok, &signer};
  return close_channel(c, &a);
}

uint64_t entrypoint(const uint8_t *input) {
  SolAccountInfo *ka = (SolAccountInfo *)SOL_HEAP; /* 8 × 56 B: off the 512-byte BPF stack */
  SolParameters p = {.ka = ka};
  if (!sol_deserialize(input, &p, MAX_ACCOUNTS)) return E_INVALID_INSTRUCTION_DATA;
  if (p.data_len == 0) return E_INVALID_INSTRUCTION_DATA;
  Ctx c = {ka, p.ka_num < MAX_ACCOUNTS ? p.ka_num : MAX_ACCOUNTS, p.data, p.data_len, p.program_id};
  switch (p.data[0]) {
    case 0: return ix_open(&c);
    case 1: return ix_top_up(&c);
    case 2: return ix_extend(&c);
    case 3: return ix_claim(&c);
    case 4: return ix_reclaim(&c);
    default: return E_INVALID_INSTRUCTION_DATA;
  }
}
