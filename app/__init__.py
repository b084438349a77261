"""Streamlit web app: upload photos, see guesses on an offline map (issue 6; needs the Geolocator)."""
