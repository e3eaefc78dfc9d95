"""The full-screen monitor (Textual): the app, its commands, screens and widgets."""
