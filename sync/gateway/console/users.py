"""Manage office users of the console from the command line (README "Office console").

    python -m sync.gateway.console.users add --db-url URL USERNAME ROLE --name 姓名
    python -m sync.gateway.console.users unlock --db-url URL USERNAME
    python -m sync.gateway.console.users list --db-url URL

`add` reads the password from the terminal (twice), or from CHAOSHOU_OFFICE_PASSWORD when
it is set (scripts); at least 10 characters. Each change is audited as done by `cli`.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy import select

from sync.gateway import db, migrate
from sync.gateway.console import auth
from sync.gateway.context import Context, Settings

MIN_PASSWORD = 10


def _password() -> str:
    given = os.environ.get("CHAOSHOU_OFFICE_PASSWORD")
    if given is not None:
        return given
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ")
    return first


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sync.gateway.console.users")
    parser.add_argument("command", choices=("add", "unlock", "list"))
    parser.add_argument("--db-url", required=True)
    parser.add_argument("username", nargs="?")
    parser.add_argument("role", nargs="?", choices=auth.ROLES)
    parser.add_argument("--name")
    args = parser.parse_intermixed_args(argv)
    engine = db.make_engine(args.db_url, pool_size=1)
    migrate.check(engine)
    ctx = Context(engine=engine, settings=Settings(), is_sqlite=args.db_url.startswith("sqlite"))
    u = db.office_users
    if args.command == "list":
        with ctx.read() as conn:
            for row in conn.execute(select(u.c.username, u.c.role, u.c.name, u.c.locked_until)
                                    .order_by(u.c.username)):
                print("\t".join("" if v is None else str(v) for v in row))
        return 0
    if not args.username:
        parser.error("a username is needed")
    with ctx.read() as conn:
        exists = conn.execute(select(u.c.role).where(u.c.username == args.username)).first()
    if args.command == "unlock":
        if exists is None:
            print(f"no office user {args.username!r}", file=sys.stderr)
            return 1
        with ctx.write() as conn:
            conn.execute(u.update().where(u.c.username == args.username).values(
                failed=0, locked_until=None))
            auth.audit(conn, "cli", "unlock_user", None, after={"username": args.username})
        return 0
    if not args.role or not args.name:
        parser.error("add needs USERNAME ROLE --name NAME")
    if exists is not None:
        print(f"office user {args.username!r} exists already", file=sys.stderr)
        return 1
    password = _password()
    if len(password) < MIN_PASSWORD:
        print(f"the password needs at least {MIN_PASSWORD} characters", file=sys.stderr)
        return 1
    with ctx.write() as conn:
        auth.add_user(conn, args.username[:64], args.name[:100], args.role, password)
        auth.audit(conn, "cli", "add_user", None,
                   after={"username": args.username, "role": args.role})
    return 0


if __name__ == "__main__":
    sys.exit(main())
