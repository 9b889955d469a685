// The login link as a terminal QR code, to sign in on a phone. Half-block
// characters (two modules per character) keep it small enough for a
// terminal; the light modules are the characters' foreground, so it reads
// on a dark background, the common terminal default.
import qrcode from 'qrcode-terminal';

export function terminalQr(text: string): string {
  let rendered = '';
  qrcode.generate(text, { small: true }, (output) => {
    rendered = output;
  });
  return rendered;
}
