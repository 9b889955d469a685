// The OAuth library's JoseKey imports its private JWK again for every JWT it
// signs: every DPoP proof and every client assertion. This key imports it
// once per algorithm and reuses the result.
import { JoseKey } from '@atproto/oauth-client-node';

type JoseKeyObject = Awaited<ReturnType<JoseKey['getKeyObj']>>;

export class ReusableJoseKey extends JoseKey {
  readonly #imported = new Map<string, Promise<JoseKeyObject>>();

  /** The same key (JoseKey's factories always build plain JoseKeys). */
  static from(key: JoseKey): ReusableJoseKey {
    return new ReusableJoseKey(key.jwk);
  }

  protected override getKeyObj(alg: string): Promise<JoseKeyObject> {
    let imported = this.#imported.get(alg);
    if (!imported) {
      imported = super.getKeyObj(alg);
      this.#imported.set(alg, imported);
      // A failed import is not remembered: the next use reports it again.
      imported.catch(() => this.#imported.delete(alg));
    }
    return imported;
  }
}
