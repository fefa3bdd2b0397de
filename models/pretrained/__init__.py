"""Pretrained weights vendored with their licences; see each folder's README."""
