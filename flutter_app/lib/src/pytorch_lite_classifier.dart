import 'dart:convert';
import 'dart:typed_data';
import 'dart:ui' as ui;

import 'package:flutter/services.dart' show rootBundle;
import 'package:pytorch_lite/pytorch_lite.dart';

import 'classifier.dart';
import 'model_card.dart';

/// Asset paths: the pipeline's `app-assets` command writes these, pubspec.yaml declares them.
const modelAsset = 'assets/models/model.ptl';
const modelCardAsset = 'assets/models/model_card.json';
const labelsAsset = 'assets/labels/labels.txt';

/// A 1x1 grey PNG: run once through the whole path (decode, resize, inference) right after loading,
/// so the plugin's worker isolates and the model's first-run set-up are not counted in the first
/// "Inference: N ms" the person sees, and so a model that cannot run fails at start-up.
final Uint8List warmUpPng = Uint8List.fromList(const [
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
  0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x68, 0x68, 0x68, 0x00,
  0x00, 0x03, 0x04, 0x01, 0x81, 0x75, 0x2e, 0x01, 0xbc, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
  0x44, 0xae, 0x42, 0x60, 0x82,
]);

/// The exported lite TorchScript model, run by pytorch_lite (PyTorch Android 2.1.0).
/// pytorch_lite squishes the photo to the card's input size (nearest neighbour), scales to [0, 1] and
/// applies the card's mean/std: the preprocessing the pipeline evaluates with, which [ModelCard]
/// checks the card asks for. The model's raw scores go through a stable softmax here.
class PytorchLiteClassifier implements Classifier {
  ClassificationModel? _model;
  ModelCard? _card;

  @override
  Future<ModelCard> load() async {
    final Map<String, dynamic> json;
    try {
      json = jsonDecode(await rootBundle.loadString(modelCardAsset)) as Map<String, dynamic>;
    } catch (error) {
      throw ClassifierException('The model card ($modelCardAsset) could not be read: $error');
    }
    final ModelCard card;
    try {
      card = ModelCard.fromJson(json);
    } on FormatException catch (error) {
      throw ClassifierException(
        'This app cannot use the installed model: ${error.message} ($modelCardAsset).',
      );
    } catch (error) {
      throw ClassifierException('The model card ($modelCardAsset) is malformed: $error');
    }
    final ClassificationModel model;
    try {
      model = await PytorchLite.loadClassificationModel(
        modelAsset,
        card.width,
        card.height,
        card.numClasses,
        labelPath: labelsAsset,
      );
    } catch (error) {
      throw ClassifierException('The model could not be loaded: $error');
    }
    final List<double> scores;
    try {
      scores = await model.getImagePredictionList(warmUpPng, mean: card.mean, std: card.std);
    } catch (error) {
      throw ClassifierException(
        'The model loaded but could not run: ${describeInferenceFailure(error).message}',
      );
    }
    if (scores.length != card.numClasses) {
      throw ClassifierException(
        'The model gives ${scores.length} scores but its card lists ${card.numClasses} labels: '
        'install a model and card exported together.',
      );
    }
    _model = model;
    _card = card;
    return card;
  }

  @override
  Future<ClassificationResult> classify(Uint8List imageBytes) async {
    final model = _model;
    final card = _card;
    if (model == null || card == null) {
      throw const ClassifierException('The model is not loaded yet.');
    }
    await _checkImageFormat(imageBytes);
    final stopwatch = Stopwatch()..start();
    final List<double> logits;
    try {
      logits = await model.getImagePredictionList(imageBytes, mean: card.mean, std: card.std);
    } catch (error) {
      throw describeInferenceFailure(error);
    }
    final probabilities = softmax(logits);
    stopwatch.stop();
    return ClassificationResult(top: topK(probabilities, card.labels, 3), elapsed: stopwatch.elapsed);
  }
}

/// Reads only the image header (cheap): a file that is not an image fails here, with a message about
/// the photo rather than about the model.
Future<void> _checkImageFormat(Uint8List bytes) async {
  ui.ImmutableBuffer? buffer;
  ui.ImageDescriptor? descriptor;
  try {
    buffer = await ui.ImmutableBuffer.fromUint8List(bytes);
    descriptor = await ui.ImageDescriptor.encoded(buffer);
  } catch (_) {
    throw const ImageDecodeException(decodeFailureMessage);
  } finally {
    descriptor?.dispose();
    buffer?.dispose();
  }
}
