/**
 * Ratio credits one hop away, over real loopback TCP: uploader U uploads T1 to node F
 * (F credits U and, having a wallet, hands U a signed statement of what it verified);
 * U then connects to node N (it downloads T3 from N) and presents that statement right
 * behind its identity proof. N credits it at its discount only if it names F as
 * trusted, and only once (a second connection presenting it again brings nothing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client } from '../../lib/net/client.js';
import { ratioCredits } from '../../extensions/ratio/plugin.js';
import { StatementStore } from '../../extensions/ratio/statements.js';
import { walletSigner } from '../../extensions/seedpay/seller-session.js';
import { CreditBook } from '../../payment/credit-book.js';
import { generateWallet } from '../../payment/session.js';
import { until } from '../../testkit/paid-helpers.js';
import { assertDownloaded, makeFixture } from '../../testkit/torrent-helpers.js';

const PL = 65536;

test('a trusted node\'s statement counts at N at the discount, once; an untrusted one counts for nothing', async () => {
  const t1 = await makeFixture({ files: [['t1.bin', 2 * 1024 * 1024]], pieceLength: PL });
  const t3 = await makeFixture({ files: [['t3.bin', 1024 * 1024 + 777]], pieceLength: PL });
  const u = generateWallet();
  const f = generateWallet();
  const store = new StatementStore(u.address);
  const clients: Client[] = [];
  const books: CreditBook[] = [];
  const client = (): Client => { const c = new Client(); clients.push(c); return c; };
  try {
    // U seeds T1 proving its identity and keeping statements handed to it.
    const cu = client();
    const portU = await cu.listen(0);
    await cu.add(t1.torrent, { dir: t1.seedDir, extensions: [ratioCredits({ signer: walletSigner(u), statements: store })] });
    // F downloads T1, crediting U, and vouches for it.
    const bookF = await CreditBook.open(join(t1.root, 'f.journal'));
    books.push(bookF);
    const tf = await client().add(t1.torrent, {
      dir: join(t1.root, 'f'), peers: [`127.0.0.1:${portU}`], extensions: [ratioCredits({ sink: bookF, signer: walletSigner(f) })],
    });
    await assertDownloaded(tf, t1, join(t1.root, 'f'));
    // F vouches as pieces pass (every MiB, and at its ticks); the connection ends when T1 is complete.
    await until(() => store.size === 1, 10_000, 'F\'s statement');
    const total = store.best()[0].total;
    assert.ok(total > 0n && total <= BigInt(t1.meta.totalLength), `statement for ${total}`);
    // N seeds T3 and trusts F (1/4); N2 seeds T3 and trusts nobody. U downloads T3 from each, twice from N.
    const run = async (trusted: string[], dirName: string): Promise<CreditBook> => {
      const book = await CreditBook.open(join(t3.root, `${dirName}.journal`));
      books.push(book);
      const cn = client();
      const portN = await cn.listen(0);
      await cn.add(t3.torrent, { dir: t3.seedDir, extensions: [ratioCredits({ sink: book, trusted })] });
      for (const round of [1, 2]) {
        const cd = client();
        const td = await cd.add(t3.torrent, {
          dir: join(t3.root, `${dirName}-${round}`), peers: [`127.0.0.1:${portN}`],
          extensions: [ratioCredits({ signer: walletSigner(u), statements: store })],
        });
        await assertDownloaded(td, t3, join(t3.root, `${dirName}-${round}`));
        if (trusted.length > 0) await until(() => book.balanceOf(u.address).vouched > 0n, 10_000, 'the statement credited');
        await cd.close();
      }
      return book;
    };
    const n = await run([f.address], 'n');
    assert.equal(n.balanceOf(u.address).vouched, total / 4n, 'a quarter of what F vouched for, once');
    assert.equal(n.balanceOf(u.address).earned, 0n, 'N verified nothing from U itself');
    const n2 = await run([], 'n2');
    assert.equal(n2.balanceOf(u.address).vouched, 0n, 'an issuer N2 does not name counts for nothing');
  } finally {
    for (const c of clients) await c.close();
    for (const b of books) await b.close();
    await t1.cleanup();
    await t3.cleanup();
  }
});
