#!/usr/bin/env python3
"""Issue 13 groundwork: how many fixed-size chunks of a SQLite snapshot stay byte-identical
after a realistic change, for three snapshot methods. Prints one JSON line per method."""
import hashlib, json, os, random, shutil, sqlite3, sys, time

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
DIR = sys.argv[2] if len(sys.argv) > 2 else "/var/tmp/chunk-stability"
shutil.rmtree(DIR, ignore_errors=True); os.makedirs(DIR)
src = os.path.join(DIR, "src.db")
db = sqlite3.connect(src); db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE records (id INTEGER PRIMARY KEY, k TEXT UNIQUE, payload BLOB, updated INTEGER)")
rnd = random.Random(42)
db.executemany("INSERT INTO records (k, payload, updated) VALUES (?, ?, 0)",
               ((f"key-{i:09d}", rnd.randbytes(400 + rnd.randrange(400))) for i in range(ROWS)))
db.commit(); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

def snap(method, out):
    if os.path.exists(out): os.remove(out)
    t = time.monotonic()
    if method == "vacuum_into":
        db.execute(f"VACUUM INTO '{out}'")
    elif method == "backup_api":
        dst = sqlite3.connect(out); db.backup(dst); dst.close()
    elif method == "file_copy":  # after a checkpoint, no writer running: the pages a reader sees
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)"); shutil.copyfile(src, out)
    return time.monotonic() - t

def chunks(path, size):
    with open(path, "rb") as f:
        return [hashlib.sha256(b).digest() for b in iter(lambda: f.read(size), b"")]

def change(pct_update, pct_insert, base):
    n_up, n_in = int(ROWS * pct_update), int(ROWS * pct_insert)
    ids = rnd.sample(range(1, ROWS + 1), n_up)
    db.executemany("UPDATE records SET payload = ?, updated = updated + 1 WHERE id = ?",
                   ((rnd.randbytes(400 + rnd.randrange(400)), i) for i in ids))
    db.executemany("INSERT INTO records (k, payload, updated) VALUES (?, ?, 0)",
                   ((f"new-{base}-{i:09d}", rnd.randbytes(400 + rnd.randrange(400))) for i in range(n_in)))
    db.commit()

methods = ["vacuum_into", "backup_api", "file_copy"]
first = {m: os.path.join(DIR, f"{m}-1.db") for m in methods}
second = {m: os.path.join(DIR, f"{m}-2.db") for m in methods}
times1 = {m: snap(m, first[m]) for m in methods}
change(0.01, 0.005, 1)
times2 = {m: snap(m, second[m]) for m in methods}
for m in methods:
    for size in (4096, 65536):
        a, b = chunks(first[m], size), chunks(second[m], size)
        known = set(a)
        new = [h for h in b if h not in known]
        print(json.dumps({"method": m, "chunk": size, "size_mb": round(os.path.getsize(second[m]) / 1e6, 1),
                          "chunks": len(b), "new_chunks": len(new),
                          "new_pct": round(100 * len(new) / len(b), 2),
                          "snapshot_s": [round(times1[m], 2), round(times2[m], 2)]}))
