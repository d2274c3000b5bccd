import 'package:flutter/material.dart';

import 'src/classifier.dart';
import 'src/executorch_classifier.dart';
import 'src/home_page.dart';
import 'src/photo_source.dart';

void main() {
  WidgetsFlutterBinding.ensureInitialized();
  runApp(PaddyEdgeApp(classifier: ExecuTorchClassifier()));
}

class PaddyEdgeApp extends StatelessWidget {
  const PaddyEdgeApp({super.key, required this.classifier, this.pickImage, this.recoverLostPhoto});

  final Classifier classifier;

  /// Where photos come from; the gallery or camera by default, a fake in widget tests.
  final PickImage? pickImage;

  /// A photo lost when Android killed the app behind the camera; image_picker's by default.
  final RecoverLostPhoto? recoverLostPhoto;

  @override
  Widget build(BuildContext context) {
    return MaterialApp(
      title: 'Paddy Doctor',
      theme: ThemeData(colorSchemeSeed: Colors.green, useMaterial3: true),
      home: HomePage(
        classifier: classifier,
        pickImage: pickImage ?? pickWithImagePicker,
        recoverLostPhoto: recoverLostPhoto ?? recoverWithImagePicker,
      ),
    );
  }
}
