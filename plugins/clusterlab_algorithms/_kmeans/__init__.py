"""The K-Means family's machinery: seeding, nearest-centre search, Lloyd's loop, mini-batches."""
