"""Shortcut audit: do file-level cues (container, compression history) alone separate real from fake?

``audit_shortcuts`` runs the audit and writes its report; ``audit_warning`` gives boards and run
records the one-line warning for a benchmark whose cached audit flags a shortcut. See
docs/AUDIT.md.
"""

from dfad_bench.audit.shortcuts import AUDIT_THRESHOLD, audit_shortcuts
from dfad_bench.audit.store import audit_warning, load_audit

__all__ = ["AUDIT_THRESHOLD", "audit_shortcuts", "audit_warning", "load_audit"]
