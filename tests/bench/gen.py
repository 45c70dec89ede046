#!/usr/bin/env python3
"""Deterministic benchmark data for tests/bench/run.

usage: gen.py N OUTDIR [FORMAT...]

Writes users records with ids 1..N, the same rows in every format:
  ndjson  users.ndjson  {"id":I,"name":..,"age":..,"occupation":..}
  resp    users.resp    RESP for redis-cli --pipe: one HSET users:I per
                        record with the fields wtc stores (id, name, age,
                        occupation, _wtc_version)
  tsv     users.tsv     id, name, age, occupation, _wtc_version for
                        LOAD DATA LOCAL INFILE
  sql     users.sql     1000-row INSERT ... ON DUPLICATE KEY UPDATE
Default formats: all four.  The data depend on N only (fixed-seed LCG).
"""
import os
import sys

FIRST = ["John", "Jane", "Ann", "Bob", "Carlos", "Dana", "Eve", "Farid",
         "Grace", "Hiro", "Ines", "Jamal", "Kofi", "Lena", "Mei", "Nils",
         "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Vera"]
LAST = ["Doe", "Smith", "Garcia", "Nguyen", "Okafor", "Müller", "Rossi",
        "Kowalski", "Tanaka", "Haddad", "Larsen", "Silva", "Novak", "Kim",
        "Dubois", "Ivanova", "Patel", "O'Brien", "Fischer", "Costa"]
JOBS = ["Engineer", "Teacher", "Nurse", "Designer", "Accountant", "Chef",
        "Pilot", "Farmer", "Lawyer", "Plumber", "Architect", "Librarian",
        "Electrician", "Pharmacist", "Journalist", "Data Scientist"]
VERSION = 1  # _wtc_version the reference loads carry
CHUNK = 10000


def rows(n):
    x = 20240601
    for i in range(1, n + 1):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        name = FIRST[x % len(FIRST)] + " " + LAST[(x >> 8) % len(LAST)]
        age = 18 + (x >> 16) % 73
        job = JOBS[(x >> 4) % len(JOBS)]
        yield i, name, age, job


def jstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bulk(s):
    b = s.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def sqlstr(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    out = sys.argv[2]
    fmts = sys.argv[3:] or ["ndjson", "resp", "tsv", "sql"]
    os.makedirs(out, exist_ok=True)
    files = {f: open(os.path.join(out, "users." + f), "wb") for f in fmts}
    buf = {f: [] for f in fmts}
    sqlrows = []
    ver = str(VERSION)
    for i, name, age, job in rows(n):
        si = str(i)
        if "ndjson" in files:
            buf["ndjson"].append(('{"id":%s,"name":%s,"age":%d,"occupation":%s}\n'
                                  % (si, jstr(name), age, jstr(job))).encode())
        if "resp" in files:
            buf["resp"].append(b"*12\r\n$4\r\nHSET\r\n" + bulk("users:" + si)
                               + b"$2\r\nid\r\n" + bulk(si)
                               + b"$4\r\nname\r\n" + bulk(name)
                               + b"$3\r\nage\r\n" + bulk(str(age))
                               + b"$10\r\noccupation\r\n" + bulk(job)
                               + b"$12\r\n_wtc_version\r\n" + bulk(ver))
        if "tsv" in files:
            buf["tsv"].append(("%s\t%s\t%d\t%s\t%s\n"
                               % (si, name, age, job, ver)).encode())
        if "sql" in files:
            sqlrows.append("(%s,%s,%d,%s,%s)" % (si, sqlstr(name), age,
                                                  sqlstr(job), ver))
            if len(sqlrows) == 1000:
                buf["sql"].append(sql_stmt(sqlrows))
                sqlrows = []
        if i % CHUNK == 0:
            for f in fmts:
                files[f].write(b"".join(buf[f]))
                buf[f] = []
    if sqlrows:
        buf["sql"].append(sql_stmt(sqlrows))
    for f in fmts:
        files[f].write(b"".join(buf[f]))
        files[f].close()


def sql_stmt(rows_):
    return ("INSERT INTO users (id,name,age,occupation,_wtc_version) VALUES "
            + ",".join(rows_)
            + " ON DUPLICATE KEY UPDATE name=VALUES(name),age=VALUES(age),"
              "occupation=VALUES(occupation),"
              "_wtc_version=VALUES(_wtc_version);\n").encode()


if __name__ == "__main__":
    main()
