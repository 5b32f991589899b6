"""SQL per aggregate. Functions take the connection first and flush, never commit."""
