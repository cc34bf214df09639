"""The local OpenStack cloud: Zed from Debian's packages, every service on 127.0.0.1 (issue 12)."""
