"""The PostgreSQL store's tables, and how an older database is brought up to them."""

from __future__ import annotations

from typing import Any

import psycopg

Connection = psycopg.Connection[tuple[Any, ...]]

SCHEMA_VERSION = 9  # PostgreSQL's own count, independent of SQLite's user_version
# Advisory lock key, in the one-bigint key space: apart from the two-int one the nodes' locks
# use (see nodes.NODE_LOCKS), so it cannot collide with any node.
SCHEMA_LOCK = 0x7463736D  # "tcsm": held while the schema is created or migrated

ORIGINALS = """
CREATE TABLE originals (
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    part integer NOT NULL,
    data bytea NOT NULL,  -- the file exactly as uploaded, in parts
    PRIMARY KEY (version_id, part)
);
-- as blocks: compressing a file of tens of MB costs seconds of the database's CPU per upload
ALTER TABLE originals ALTER data SET STORAGE EXTERNAL;
"""
# rebuilt: the part's data says how the version's records give its bytes back
REBUILT = "ALTER TABLE originals ADD COLUMN rebuilt boolean NOT NULL DEFAULT false;"
# rows wider or narrower than the first; NULL: stored before they were counted (schema 4),
# rather than 0, which would say there are none
RAGGED_ROWS = "ALTER TABLE versions ADD COLUMN ragged_rows bigint;"
# blocks_of: the version whose blocks and original file this one's are (a restore), NULL: its
# own (see store.sql.owner)
SHARED = "ALTER TABLE versions ADD COLUMN blocks_of bigint;"
# pieces: where the rows of a version that changed some are (NULL: blocks_of's records, in
# order; see tablecast.table.pieces)
PIECES = "ALTER TABLE versions ADD COLUMN pieces bytea;"
# a much changed version's pieces, a chunk each, named by a hash of its bytes, shared by the
# document's versions (see store.sql.keep_pieces)
PIECE_CHUNKS = """
CREATE TABLE piece_chunks (
    document_id text NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk bytea NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (document_id, chunk)
);
"""
# source: what the version was read from when not text (model.Source as JSON; NULL: text)
SOURCE = "ALTER TABLE versions ADD COLUMN source text;"
SCHEMA = (
    """
CREATE TABLE schema_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),  -- a single row
    version integer NOT NULL
);
CREATE TABLE documents (
    id text PRIMARY KEY,
    created_at double precision NOT NULL,  -- epoch seconds, as SQLite's REAL
    updated_at double precision NOT NULL,
    current_version bigint,
    shared_page integer NOT NULL DEFAULT 1,
    edit_key_hash bytea,  -- NULL: editable by anyone with the link
    accessed_at double precision NOT NULL DEFAULT 0,  -- last viewed or changed, for LRU eviction
    shared_view text NOT NULL DEFAULT ''  -- sorted or searched for followers ('': plain)
);
CREATE INDEX documents_by_use ON documents (accessed_at);
CREATE TABLE versions (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id text NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    number integer,  -- NULL while the upload is in progress
    node integer,  -- the node that wrote it: while number is NULL, whose upload it is
    created_at double precision NOT NULL,
    filename text NOT NULL DEFAULT '',
    encoding text NOT NULL DEFAULT '',
    delimiter text NOT NULL DEFAULT '',
    has_header boolean NOT NULL DEFAULT true,
    record_count bigint NOT NULL DEFAULT 0,
    width integer NOT NULL DEFAULT 0,
    size bigint NOT NULL DEFAULT 0,
    first_record text NOT NULL DEFAULT '[]',
    stored_bytes bigint NOT NULL DEFAULT 0  -- its blocks' bytes, counted as they are written
);
CREATE UNIQUE INDEX versions_by_number ON versions (document_id, number);
CREATE INDEX versions_pending ON versions (node) WHERE number IS NULL;
CREATE TABLE blocks (
    version_id bigint NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    block integer NOT NULL,
    records bytea NOT NULL,
    offsets bytea NOT NULL,
    PRIMARY KEY (version_id, block)
);
-- Kept as they are, as SQLite keeps them (and as stored_bytes counts them): compressing a block
-- made writes 2-3 times slower and page reads ~15% slower, for space the byte limit ignores.
ALTER TABLE blocks ALTER records SET STORAGE EXTERNAL;
CREATE TABLE viewers (  -- how many viewers of a document each node holds, when not 0
    document_id text REFERENCES documents ON DELETE CASCADE,
    node integer,
    viewers integer NOT NULL,
    PRIMARY KEY (document_id, node)
);
"""
    + ORIGINALS
    + REBUILT
    + RAGGED_ROWS
    + SHARED
    + PIECES
    + PIECE_CHUNKS
    + SOURCE
)

# from this schema version to the next: its DDL
MIGRATIONS: dict[int, str] = {
    1: "ALTER TABLE documents ADD COLUMN shared_view text NOT NULL DEFAULT ''",
    2: ORIGINALS,
    3: REBUILT,
    4: RAGGED_ROWS,
    5: SHARED,
    6: PIECES,
    7: PIECE_CHUNKS,
    8: SOURCE,
}


def migrate(conn: Connection) -> None:
    """Create the tables, or bring them up to SCHEMA_VERSION, in the caller's transaction.
    Several workers start at once: one creates or migrates, the others wait and see it done."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
    row = conn.execute("SELECT to_regclass('schema_version')").fetchone()
    version = 0
    if row and row[0] is not None:
        found = conn.execute("SELECT version FROM schema_version").fetchone()
        version = found[0] if found else 0
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database has schema version {version};"
            f" this tablecast knows up to {SCHEMA_VERSION}: upgrade tablecast"
        )
    if version == 0:
        conn.execute(SCHEMA)  # several statements: allowed without parameters
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
        return
    for step in range(version, SCHEMA_VERSION):
        conn.execute(MIGRATIONS[step])
    conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))
