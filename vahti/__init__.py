"""vahti."""
