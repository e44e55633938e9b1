"""The plain steps the flows wrap: plain values in, small summaries out."""
