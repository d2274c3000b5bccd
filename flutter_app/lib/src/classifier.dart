import 'dart:typed_data';

import 'model_card.dart';

/// The app talks to the model through this interface; widget tests use a fake.
abstract class Classifier {
  /// Loads the model and returns its card; throws [ClassifierException] when it cannot.
  Future<ModelCard> load();

  /// Classifies an encoded photo (JPEG, PNG, ...); throws [ClassifierException] when it cannot.
  Future<ClassificationResult> classify(Uint8List imageBytes);
}

class ClassifierException implements Exception {
  const ClassifierException(this.message);

  final String message;

  @override
  String toString() => message;
}

class Prediction {
  const Prediction(this.label, this.probability);

  final String label;
  final double probability;

  String get displayName => humanizeLabel(label);
}

class ClassificationResult {
  const ClassificationResult({required this.top, required this.elapsed});

  final List<Prediction> top;

  /// Preprocessing and inference, as the person waits for it.
  final Duration elapsed;
}

/// "bacterial_leaf_blight" -> "Bacterial leaf blight".
String humanizeLabel(String label) {
  final words = label.trim().split(RegExp(r'[_\s]+')).where((w) => w.isNotEmpty).toList();
  if (words.isEmpty) {
    return label;
  }
  final first = words.first;
  return [first[0].toUpperCase() + first.substring(1), ...words.skip(1)].join(' ');
}

/// The k most probable labels, most probable first.
List<Prediction> topK(List<double> probabilities, List<String> labels, int k) {
  if (probabilities.length != labels.length) {
    throw ClassifierException(
        'The model gave ${probabilities.length} scores for ${labels.length} labels.');
  }
  final order = List<int>.generate(probabilities.length, (i) => i)
    ..sort((a, b) => probabilities[b].compareTo(probabilities[a]));
  return [for (final i in order.take(k)) Prediction(labels[i], probabilities[i])];
}
