"""思想动态 and 共性问题 alerts."""
