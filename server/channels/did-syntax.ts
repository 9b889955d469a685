// The DIDs an ATProto login can prove: did:plc and hostname-level did:web.
// A catalog entry with anything else could never match a signed-in caller,
// so it is refused at start rather than silently locking a channel.
const PLC = /^did:plc:[a-z2-7]{24}$/;
// A hostname of one or more labels, optionally with a percent-encoded port.
const WEB = /^did:web:(?=.{1,253}(?:%3A\d{1,5})?$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*(?:%3A\d{1,5})?$/;

export const DID_RULE = 'did:plc:<24 characters of a-z and 2-7> or did:web:<hostname>';

export function isAtprotoDid(value: string): boolean {
  return PLC.test(value) || WEB.test(value);
}
