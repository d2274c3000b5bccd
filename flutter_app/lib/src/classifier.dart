import 'dart:math' as math;
import 'dart:typed_data';

import 'model_card.dart';

/// The app talks to the model through this interface; widget tests use a fake.
abstract class Classifier {
  /// Loads the model and returns its card; throws [ClassifierException] when it cannot.
  Future<ModelCard> load();

  /// Classifies an encoded photo (JPEG, PNG, ...); throws [ClassifierException] when it cannot.
  Future<ClassificationResult> classify(Uint8List imageBytes);
}

/// A failure the person can read: [message] says what happened and what to do.
class ClassifierException implements Exception {
  const ClassifierException(this.message);

  final String message;

  @override
  String toString() => message;
}

/// The photo itself is the problem: it could not be decoded.
class ImageDecodeException extends ClassifierException {
  const ImageDecodeException(super.message);
}

/// The photo decoded, but running the model on it failed (executorch_classifier.dart's
/// describeInferenceFailure words ExecuTorch's errors as this).
class InferenceException extends ClassifierException {
  const InferenceException(super.message);
}

const decodeFailureMessage = 'This image could not be decoded. Try another photo (JPEG or PNG).';

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

/// Probabilities from the model's raw scores (logits), computed stably: the largest logit is
/// subtracted before exponentiating, so large scores cannot overflow to infinity and NaN.
List<double> softmax(List<double> logits) {
  if (logits.isEmpty) {
    throw const InferenceException('The model returned no scores.');
  }
  if (logits.any((x) => !x.isFinite)) {
    throw const InferenceException('The model returned a score that is not a number (NaN or infinite).');
  }
  final largest = logits.reduce(math.max);
  final exps = [for (final x in logits) math.exp(x - largest)];
  final sum = exps.fold<double>(0, (total, e) => total + e);
  return [for (final e in exps) e / sum];
}
