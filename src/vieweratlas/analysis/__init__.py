"""The analysis core: pure stages over tables and arrays (no files, sockets or clocks).

aggregate → bots → overlap → communities → labels; wired together by
:mod:`vieweratlas.pipeline`.
"""
