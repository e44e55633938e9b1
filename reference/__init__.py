"""The peers Vahti talks to on loopback: the reference provider and the mail sink."""
