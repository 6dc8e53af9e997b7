/** MSE/PE (Message Stream Encryption): the sans-IO handshake of both roles, RC4, DH. */
export { MseInitiator, type InitiatorOptions } from './initiator.js';
export { MseResponder, type ResponderOptions } from './responder.js';
export { MseMachine, MAX_PAD_LENGTH, DEFAULT_MSE_TIMEOUT, type MseResult } from './machine.js';
export { MseError, type MseErrorCode } from './errors.js';
export { Rc4 } from './rc4.js';
export { req2Hash } from './keys.js';
export { ENCRYPTION_MODES, isEncryptionMode, type EncryptionMode, type CryptoMethod } from './policy.js';
