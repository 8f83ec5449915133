"""Data class for status."""


class Status:
    SUCCESS = 0
    ERROR = 1
    TIMEOUT = 2
    ONGOING = 3
    UNKNOWN = 99
