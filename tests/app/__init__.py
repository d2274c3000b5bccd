"""The phone app and what it gets: flutter_app/ read statically (Dart parsed, assets, the Android
project's release rules), the model installed into it (app-assets), the built APK's check, and the phone
contract's preprocessing as the app does it."""
