"""Platform-neutral collection machinery shared by every source package."""
