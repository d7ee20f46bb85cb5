from __future__ import annotations

from vieweratlas.cli import main

if __name__ == "__main__":
    main()
