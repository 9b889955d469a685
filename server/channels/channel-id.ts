// The one definition of a well-formed channel id, shared by the catalog
// (which rejects bad ids at start) and GetChannelToken (INVALID_ARGUMENT).
export const CHANNEL_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export const CHANNEL_ID_RULE = '1 to 64 characters of a-z, 0-9, "-" and "_", starting with a letter or digit';

export function isChannelId(value: string): boolean {
  return CHANNEL_ID_PATTERN.test(value);
}
