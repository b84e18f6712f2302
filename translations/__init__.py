"""The words the line says: the content catalog, contacts, SMS arithmetic and machine translation."""
