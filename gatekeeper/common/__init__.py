"""Small pieces every step shares: the duration grammar, statistics, masking secrets, reading
numbers from evidence, writing files atomically, describing server failures."""
