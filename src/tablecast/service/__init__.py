"""What tablecast does, whoever asks: documents and their versions as the event loop sees them,
uploads, rooms of viewers and their fan-out, views computed off the loop, keeping a cluster in
step. Uses the store and the table; knows nothing of HTTP or of WebSocket framing."""
