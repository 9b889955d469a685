// Who may join a channel. The DID compared is the one the access token
// proved; exact string comparison, as DIDs are case-sensitive identifiers.
import type { ChannelDefinition } from './catalog.ts';

export function mayJoin(channel: ChannelDefinition, did: string): boolean {
  return channel.join.kind === 'signed-in' || channel.join.dids.has(did);
}
