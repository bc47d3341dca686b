"""Users' posts, their embeddings, cached answers and API keys in one SQL database (SQLAlchemy).

SQLite by default (one file, WAL, every commit synced: an acknowledged write survives a killed process), PostgreSQL
by URL for deployments of several server processes. Each write is one transaction: a request that adds many posts
adds all of them or none. A post's embedding is computed by the caller once, when the post is written, and stored
beside it; a search then encodes only its query.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError

from pr2.errors import PR2Error
from pr2.secrets import redact

log = logging.getLogger(__name__)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("created_at", Float, nullable=False),
    # Bumped by every change to the user's posts: a cached answer is valid only for the version it was made from.
    Column("version", Integer, nullable=False, default=0),
    # An identity that never repeats: a user deleted and created again under the same id is another user, so
    # whatever was derived from the old posts (cached answers) is keyed by (epoch, version) and never served again.
    Column("epoch", String(32)),
)

posts = Table(
    "posts",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # write order, for paging
    Column("id", String(64), nullable=False, unique=True),
    Column("user_id", String(256), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("embedder", String(512)),  # which encoder made `embedding` (None: none stored, e.g. BM25)
    Column("embedding", LargeBinary),  # float32, little-endian
    Index("ix_posts_user_seq", "user_id", "seq"),
)

answers = Table(
    "answers",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("user_id", String(256), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("response", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

writes = Table(
    "writes",
    metadata,
    # Post writes made with an Idempotency-Key, per API key: a retried request finds its first outcome here (the
    # post ids it made, and a digest of what it asked, so that the same key with another body is refused).
    Column("key_id", String(32), primary_key=True),
    Column("idempotency_key", String(256), primary_key=True),
    Column("user_id", String(256), nullable=False, index=True),
    Column("request", String(64), nullable=False),
    Column("ids", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("hash", String(64), nullable=False, unique=True),  # sha256 of the key: the key itself is never stored
    Column("name", String(256)),
    Column("users", Text),  # JSON list of the users this key may act for; NULL: every user
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)


class Replayed(list):
    """The post ids of a write made before under the same Idempotency-Key (nothing was added this time)."""


class IdempotencyConflict(PR2Error):
    """An Idempotency-Key used again with another request."""


class TooManyPosts(PR2Error):
    """A write that would take a user past the posts a user may hold."""

    def __init__(self, held: int, adding: int, limit: int) -> None:
        super().__init__(f"the user holds {held} posts; adding {adding} would pass the limit of {limit} per user")


@dataclass(frozen=True)
class Post:
    id: str
    user_id: str
    text: str
    created_at: float


@dataclass(frozen=True)
class Profile:
    """A user's posts in write order with their stored embeddings (rows align; None where none is stored)."""

    user_id: str
    epoch: str
    version: int
    posts: list[Post]
    embeddings: list[np.ndarray | None]
    embedders: list[str | None]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
    cursor.execute("PRAGMA busy_timeout=30000")  # writers from several threads or processes wait their turn
    cursor.execute("PRAGMA secure_delete=ON")  # deleted text is overwritten, not left in free pages
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def open_engine(url: str) -> Engine:
    """An engine for `url` (`sqlite:///path.db`, `postgresql+psycopg://user@host/db`, or a bare file path)."""
    if "://" not in url:
        url = f"sqlite:///{url}"
    try:
        # hide_parameters: a database error names the statement, never the values bound to it (posts, keys)
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8, hide_parameters=True)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (ArgumentError, NoSuchModuleError, OperationalError, ModuleNotFoundError) as err:
        message = " ".join(str(err).split("\n")[0].split())
        raise PR2Error(f"cannot open database {redact(url)!r}: {redact(message)}") from None
    return engine


class Store:
    """Every database access of the server. Methods are synchronous; the server calls them from worker threads."""

    def __init__(self, url: str, max_posts_per_user: int | None = None) -> None:
        self.url = url
        self.max_posts_per_user = max_posts_per_user
        self._scrub_wanted = threading.Event()
        self._scrub_idle = threading.Event()
        self._scrub_idle.set()
        self._closing = False
        self._scrubber = threading.Thread(target=self._scrub_loop, name="pr2-scrub", daemon=True)
        self._scrubber.start()
        self.engine = open_engine(url)
        metadata.create_all(self.engine)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._add_epochs()

    def _add_epochs(self) -> None:
        """A database made before users had epochs gains the column, and each user one (once)."""
        from sqlalchemy import inspect

        if "epoch" not in {c["name"] for c in inspect(self.engine).get_columns("users")}:
            with self.engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE users ADD COLUMN epoch VARCHAR(32)")
        with self.engine.begin() as conn:
            for (user_id,) in conn.execute(select(users.c.id).where(users.c.epoch.is_(None))).all():
                conn.execute(update(users).where(users.c.id == user_id).values(epoch=uuid.uuid4().hex))

    def _insert(self, table):
        """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL both)."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        return dialect_insert(table)

    def close(self) -> None:
        self.scrubbed()
        self._closing = True
        self._scrub_wanted.set()
        self._scrubber.join(timeout=30)
        self.engine.dispose()

    def _scrub_loop(self) -> None:
        """Deleted bytes are scrubbed here, in the background, not inside the request that deleted."""
        while True:
            self._scrub_wanted.wait()
            if self._closing:
                return
            self._scrub_wanted.clear()
            try:
                self._scrub()
            except Exception as err:
                log.warning(
                    "scrubbing deleted data failed (%s); it is retried at the next deletion", type(err).__name__
                )
            if not self._scrub_wanted.is_set():
                self._scrub_idle.set()

    def _request_scrub(self) -> None:
        self._scrub_idle.clear()
        self._scrub_wanted.set()

    def scrubbed(self, timeout: float = 60.0) -> bool:
        """Wait until every deletion so far is scrubbed from the files (True) or the timeout passes (False)."""
        return self._scrub_idle.wait(timeout)

    # --- posts ---

    def add_posts(
        self,
        user_id: str,
        texts: Sequence[str],
        embeddings: Sequence[np.ndarray] | None = None,
        embedder: str | None = None,
        idempotency: tuple[str, str, str] | None = None,
    ) -> list[str]:
        """Add posts to a user (created on first write), all in one transaction. Returns the new post ids.
        `idempotency` (API key id, Idempotency-Key, digest of the request): a write already made under that key
        returns its ids and adds nothing (`Replayed`); the same key with another request is refused
        (`IdempotencyConflict`). Two such writes at once: one adds, the other finds its ids."""
        if idempotency is not None:
            done = self._written(*idempotency)
            if done is not None:
                return done
            try:
                return self._add_posts(user_id, texts, embeddings, embedder, idempotency)
            except IntegrityError:  # the same write, made by a concurrent request a moment ago: its ids
                done = self._written(*idempotency)
                if done is None:
                    raise
                return done
        return self._add_posts(user_id, texts, embeddings, embedder, None)

    def _written(self, key_id: str, idempotency_key: str, digest: str) -> list[str] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(writes.c.request, writes.c.ids).where(
                    writes.c.key_id == key_id, writes.c.idempotency_key == idempotency_key
                )
            ).first()
        if row is None:
            return None
        if row.request != digest:
            raise IdempotencyConflict(idempotency_key)
        return Replayed(json.loads(row.ids))

    def _add_posts(self, user_id, texts, embeddings, embedder, idempotency) -> list[str]:
        now = time.time()
        ids = [uuid.uuid4().hex for _ in texts]
        rows = [
            {
                "id": pid,
                "user_id": user_id,
                "text": t,
                "created_at": now,
                "embedder": embedder if embeddings is not None else None,
                "embedding": None if embeddings is None else np.asarray(e, dtype="<f4").tobytes(),
            }
            for pid, t, e in zip(ids, texts, embeddings if embeddings is not None else [None] * len(texts), strict=True)
        ]
        with self.engine.begin() as conn:
            self._touch_user(conn, user_id, now)  # the user's row is locked from here to the commit
            if self.max_posts_per_user is not None:
                held = conn.execute(
                    select(func.count()).select_from(posts).where(posts.c.user_id == user_id)
                ).scalar_one()
                if held + len(rows) > self.max_posts_per_user:
                    raise TooManyPosts(held, len(rows), self.max_posts_per_user)
            if rows:
                conn.execute(insert(posts), rows)
            if idempotency is not None:
                key_id, idempotency_key, digest = idempotency
                conn.execute(
                    insert(writes).values(
                        key_id=key_id, idempotency_key=idempotency_key, user_id=user_id, request=digest,
                        ids=json.dumps(ids), created_at=now,
                    )
                )  # fmt: skip
        return ids

    def _touch_user(self, conn, user_id: str, now: float) -> None:
        """Create the user (version 1, a new epoch) or move its version on, in one statement: two processes
        writing a new user's first posts at once both succeed."""
        new = self._insert(users).values(id=user_id, created_at=now, version=1, epoch=uuid.uuid4().hex)
        conn.execute(new.on_conflict_do_update(index_elements=[users.c.id], set_={"version": users.c.version + 1}))

    def list_posts(self, user_id: str, limit: int = 100, after: str | None = None) -> tuple[list[Post], bool] | None:
        """A page of a user's posts in write order after the post `after` (the page cursor: a post id of this user,
        which says nothing of other users' posts), and whether more follow. None when `after` names no post of
        this user (deleted since, or another user's)."""
        with self.engine.connect() as conn:
            start = 0
            if after is not None:
                start = conn.execute(
                    select(posts.c.seq).where(posts.c.user_id == user_id, posts.c.id == after)
                ).scalar_one_or_none()
                if start is None:
                    return None
            rows = conn.execute(
                select(posts.c.seq, posts.c.id, posts.c.user_id, posts.c.text, posts.c.created_at)
                .where(posts.c.user_id == user_id, posts.c.seq > start)
                .order_by(posts.c.seq)
                .limit(limit + 1)
            ).all()
        page = rows[:limit]
        return [Post(r.id, r.user_id, r.text, r.created_at) for r in page], len(rows) > limit

    def count_posts(self, user_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(posts).where(posts.c.user_id == user_id)).scalar_one()

    def user_exists(self, user_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is not None

    def delete_post(self, user_id: str, post_id: str) -> bool:
        """Delete one of the user's posts (a post id of another user deletes nothing). True if it existed."""
        with self.engine.begin() as conn:
            gone = conn.execute(delete(posts).where(posts.c.user_id == user_id, posts.c.id == post_id)).rowcount
            if gone:
                conn.execute(delete(answers).where(answers.c.user_id == user_id))  # made from the old profile
                self._touch_user(conn, user_id, time.time())
        if gone:
            self._request_scrub()
        return bool(gone)

    def delete_user(self, user_id: str) -> int | None:
        """Delete the user and every trace of them (posts, embeddings, cached answers). Returns the number of posts
        deleted, None for an unknown user."""
        with self.engine.begin() as conn:
            n = conn.execute(delete(posts).where(posts.c.user_id == user_id)).rowcount
            conn.execute(delete(answers).where(answers.c.user_id == user_id))
            conn.execute(delete(writes).where(writes.c.user_id == user_id))
            existed = conn.execute(delete(users).where(users.c.id == user_id)).rowcount
        if existed:
            self._request_scrub()
        return n if existed else None

    def _scrub(self) -> None:
        """Deleted rows' bytes out of the files: SQLite overwrites them (secure_delete) in the database file, and the
        write-ahead log that still holds the old pages is checkpointed and truncated. PostgreSQL: VACUUM marks the
        space free (its bytes stay until reused; docs/serving.md)."""
        if self.is_sqlite:
            for _ in range(20):
                with self.engine.connect() as conn:
                    busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()[0]
                if not busy:
                    return
                time.sleep(0.05)
            log.warning("write-ahead log not truncated (readers active); deleted text leaves it at the next checkpoint")
        else:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("posts", "answers", "writes", "users"):
                    conn.exec_driver_sql(f"VACUUM {table}")

    def state(self, user_id: str) -> tuple[str, int] | None:
        """The user's (epoch, version), which every cached derivation of their posts is keyed by; None: unknown."""
        with self.engine.connect() as conn:
            row = conn.execute(select(users.c.epoch, users.c.version).where(users.c.id == user_id)).first()
        return None if row is None else (row.epoch, row.version)

    def save_embeddings(
        self, user_id: str, post_ids: Sequence[str], embeddings: Sequence[np.ndarray], embedder: str
    ) -> None:
        """Store embeddings made later for posts written without them (or under another encoder), once."""
        rows = [
            {"pid": pid, "vector": np.asarray(e, dtype="<f4").tobytes()}
            for pid, e in zip(post_ids, embeddings, strict=True)
        ]
        if not rows:
            return
        one_post = (
            update(posts)
            .where(posts.c.user_id == user_id, posts.c.id == bindparam("pid"))
            .values(embedder=embedder, embedding=bindparam("vector"))
        )
        with self.engine.begin() as conn:
            conn.execute(one_post, rows)  # one statement, executed for every post

    def profile(self, user_id: str, texts: bool = True) -> Profile | None:
        """Everything the agent needs of one user, read in one transaction (None for an unknown user). Without
        `texts`, the posts' texts are left out ("") and only their ids and embeddings are read."""
        text_column = posts.c.text if texts else literal("").label("text")
        with self.engine.begin() as conn:
            state = conn.execute(select(users.c.epoch, users.c.version).where(users.c.id == user_id)).first()
            if state is None:
                return None
            rows = conn.execute(
                select(posts.c.id, text_column, posts.c.created_at, posts.c.embedder, posts.c.embedding)
                .where(posts.c.user_id == user_id)
                .order_by(posts.c.seq)
            ).all()
        return Profile(
            user_id,
            state.epoch,
            state.version,
            [Post(r.id, user_id, r.text, r.created_at) for r in rows],
            [None if r.embedding is None else np.frombuffer(r.embedding, dtype="<f4") for r in rows],
            [r.embedder for r in rows],
        )

    def post_texts(self, user_id: str, post_ids: Sequence[str]) -> dict[str, str]:
        """The texts of some of a user's posts, by id (a post deleted or another user's: absent)."""
        if not post_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(posts.c.id, posts.c.text).where(posts.c.user_id == user_id, posts.c.id.in_(list(post_ids)))
            ).all()
        return {r.id: r.text for r in rows}

    # --- cached answers ---

    def cached_answer(self, key: str) -> dict | None:
        with self.engine.connect() as conn:
            found = conn.execute(select(answers.c.response).where(answers.c.key == key)).scalar_one_or_none()
        return None if found is None else json.loads(found)

    def cache_answer(self, key: str, user_id: str, epoch: str, version: int, response: dict) -> None:
        """Keep an answer made from the user's profile at (epoch, version), in one conditional statement: nothing is
        written if the user is gone, was re-created, or has written or deleted a post since; a key already there
        keeps its first answer."""
        current = select(
            literal(key), users.c.id, literal(json.dumps(response, ensure_ascii=False)), literal(time.time())
        ).where(users.c.id == user_id, users.c.epoch == epoch, users.c.version == version)
        keep = self._insert(answers).from_select(["key", "user_id", "response", "created_at"], current)
        with self.engine.begin() as conn:
            conn.execute(keep.on_conflict_do_nothing(index_elements=[answers.c.key]))

    # --- API keys ---

    def create_key(self, name: str | None = None, user_ids: Sequence[str] | None = None) -> tuple[str, str]:
        """A new API key: returns (key id, the key). Only the key's hash is stored; the key is shown once."""
        import secrets

        key_id = secrets.token_hex(6)
        key = f"pr2_{key_id}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    id=key_id,
                    hash=hash_key(key),
                    name=name,
                    users=None if user_ids is None else json.dumps(list(user_ids), ensure_ascii=False),
                    created_at=time.time(),
                )
            )
        return key_id, key

    def revoke_key(self, key_id: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                    .values(revoked_at=time.time())
                ).rowcount
            )

    def list_keys(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at)).all()
        return [
            {
                "id": r.id,
                "name": r.name,
                "users": None if r.users is None else json.loads(r.users),
                "created_at": r.created_at,
                "revoked": r.revoked_at is not None,
            }
            for r in rows
        ]

    def key_scope(self, key: str) -> tuple[str, list[str] | None] | None:
        """(key id, the users it may act for or None for all) for a valid, unrevoked key; else None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_keys.c.id, api_keys.c.users).where(
                    api_keys.c.hash == hash_key(key), api_keys.c.revoked_at.is_(None)
                )
            ).first()
        if row is None:
            return None
        return row.id, None if row.users is None else json.loads(row.users)

    def has_keys(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(api_keys.c.id).where(api_keys.c.revoked_at.is_(None))).first() is not None
