"""A Django-shaped package: mysite/wsgi.py holds the app (`module = mysite.wsgi:application`)."""
