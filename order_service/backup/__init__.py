"""Backups of the embedded mode: the SQLite event store, its read model, the cold archive and,
only when asked, the key-encryption key, copied consistently while commands are written.

``create`` makes a backup directory (its manifest written last, so a backup is whole or absent),
``verify`` checks one, ``restore`` puts one into an empty data directory.
"""

from order_service.backup.create import BackupError, create_backup, plan_backup
from order_service.backup.manifest import Manifest
from order_service.backup.restore import RestoreRefusedError, restore_backup
from order_service.backup.verify import verify_backup

__all__ = [
    "BackupError",
    "Manifest",
    "RestoreRefusedError",
    "create_backup",
    "plan_backup",
    "restore_backup",
    "verify_backup",
]
