"""Imported by --import/--pyimport before the app: records the order."""
import builtins

builtins.import_order = getattr(builtins, 'import_order', []) + ['a']
