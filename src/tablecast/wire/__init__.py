"""What travels on a viewer's WebSocket, pure: RFC 6455 frames, and the messages of the two
dialects (the article's legacy one and ``tablecast.v1``). No sockets: the web layer feeds it."""
