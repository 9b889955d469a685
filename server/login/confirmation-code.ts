// The login's confirmation code: shown by the app (InitiateLogin returns it)
// and on the confirmation page, so the user can tell a login they started
// from one someone sent them. Eight characters from the CSPRNG, from an
// alphabet without look-alikes (no 0/O, 1/I/L), written "XXXX-XXXX".
import { randomInt } from 'node:crypto';

const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const LENGTH = 8;

export function newConfirmationCode(): string {
  let code = '';
  for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}
