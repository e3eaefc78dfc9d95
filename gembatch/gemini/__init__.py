"""The Gemini API through the google-genai SDK: client, errors, remote views, transfers."""
