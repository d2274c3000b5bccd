package org.paddyedge.classifier

import io.flutter.embedding.android.FlutterActivity

class MainActivity : FlutterActivity()
