"""The coordinator console: server-rendered pages, no JavaScript, no third-party assets."""
