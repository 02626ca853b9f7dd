"""A table's content, pure: bytes parsed into records, records kept in blocks, pages and views
of them, columns' types and orders, exports, and the file as uploaded. No I/O, no threads, no
event loop: everything here is tested without sockets or a store."""
