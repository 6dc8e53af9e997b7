/**
 * One writer per journal: an advisory lock held by the kernel on `<journal>.lock`.
 *
 * How: the lock file is opened (created if absent, never deleted) and a non-blocking
 * exclusive lock is taken on it through fs-native-extensions: an open-file-description
 * lock (fcntl F_OFD_SETLK) on Linux, flock(2) on macOS, LockFileEx on Windows. The
 * descriptor stays open for as long as the journal is; closing it releases the lock.
 *
 * Why two processes can never both hold it:
 *  - the test and the set are one system call: the kernel grants an exclusive lock on
 *    an inode to one open file description at a time, so two openers racing get one
 *    yes and one EAGAIN, with no window in between (the pid file this replaces had
 *    one: two processes that both saw a stale pid could both delete it and both
 *    create it);
 *  - nothing is ever decided from a pid or a timestamp: when the holder dies in any
 *    way (SIGKILL, crash, OOM kill), the kernel closes its descriptors and the lock is
 *    free at that instant, so a crashed holder never blocks the next opener, and a
 *    live holder is never judged stale (a paused or slow process keeps its lock, a
 *    recycled pid does not matter, and it works across pid namespaces on one host);
 *  - the lock file is never deleted: deleting it would let a newcomer create and lock a
 *    fresh inode under the same name while the holder still locks the old one. After
 *    locking, the opener checks that the name still leads to the inode it locked (in
 *    case someone deleted or replaced the file by hand) and starts over if not;
 *  - an OFD lock (unlike a classic POSIX fcntl lock) belongs to the open file, not the
 *    process, so a second open in the same process is refused as well.
 *
 * The file holds the holder's pid for people ("<pid> locked"), emptied on release; it
 * decides nothing. One exception, for the upgrade from the pid-file lock: a file that
 * holds only a number was written by an older version that locks by pid alone; if that
 * process is alive it holds the journal, and we refuse.
 */
import { constants as FS, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { JournalError } from './journal-format.js';

interface NativeLocks {
  /** false: another open file holds a conflicting lock. */
  tryLock(fd: number, opts?: { shared?: boolean }): boolean;
  unlock(fd: number): void;
}

let native: NativeLocks | null = null;

function locks(): NativeLocks {
  if (native) return native;
  try {
    native = createRequire(import.meta.url)('fs-native-extensions') as NativeLocks;
    return native;
  } catch (e) {
    throw new JournalError('LOCK_UNAVAILABLE', `no file lock on this platform (fs-native-extensions: ${(e as Error).message})`);
  }
}

/** A pid-only lock file of an older version naming a live process other than us. */
function legacyHolder(content: string): number | null {
  if (!/^\d{1,10}\s*$/.test(content)) return null;
  const pid = Number.parseInt(content, 10);
  if (pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

async function readContent(fh: FileHandle): Promise<string> {
  const buf = new Uint8Array(64);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  return new TextDecoder().decode(buf.subarray(0, bytesRead));
}

const sameFile = (a: Stats, b: Stats): boolean => a.ino === b.ino && a.dev === b.dev;

export class JournalLock {
  private constructor(private fh: FileHandle | null, readonly path: string) {}

  /** Take the lock or fail at once with JournalError('LOCKED'); never waits. */
  static async acquire(path: string): Promise<JournalLock> {
    const lib = locks();
    for (let attempt = 0; attempt < 5; attempt++) {
      const fh = await open(path, FS.O_RDWR | FS.O_CREAT, 0o600);
      try {
        if (!lib.tryLock(fh.fd)) {
          const who = (await readContent(fh)).trim().split(/\s/)[0];
          throw new JournalError('LOCKED', `journal is in use${who ? ` by process ${who}` : ''} (${path} is locked)`);
        }
        const named = await stat(path).catch(() => null);
        if (named === null || !sameFile(await fh.stat(), named)) {
          await fh.close(); // locked an inode that is no longer the lock file: try the one that is
          continue;
        }
        const legacy = legacyHolder(await readContent(fh));
        if (legacy !== null) throw new JournalError('LOCKED', `journal is in use by process ${legacy} (an older version's lock in ${path})`);
        await fh.truncate(0);
        const note = new TextEncoder().encode(`${process.pid} locked\n`);
        await fh.write(note, 0, note.length, 0);
        return new JournalLock(fh, path);
      } catch (e) {
        await fh.close().catch(() => undefined);
        throw e;
      }
    }
    throw new JournalError('LOCKED', `could not lock ${path}: it keeps being replaced`);
  }

  /** Empty the note and close the file, which releases the lock. Idempotent. */
  async release(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (!fh) return;
    try {
      await fh.truncate(0).catch(() => undefined);
    } finally {
      await fh.close();
    }
  }
}
