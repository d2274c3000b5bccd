import 'dart:typed_data';

import 'package:flutter/services.dart' show rootBundle;
import 'package:pytorch_lite/pytorch_lite.dart';

import 'classifier.dart';
import 'model_card.dart';

/// Asset paths: the pipeline's `app-assets` command writes these, pubspec.yaml declares them.
const modelAsset = 'assets/models/model.ptl';
const modelCardAsset = 'assets/models/model_card.json';
const labelsAsset = 'assets/labels/labels.txt';

/// The exported lite TorchScript model, run by pytorch_lite (PyTorch Android 2.1.0).
/// pytorch_lite squishes the photo to the card's input size, scales to [0, 1] and applies the card's
/// mean/std: the preprocessing the pipeline evaluates with.
class PytorchLiteClassifier implements Classifier {
  ClassificationModel? _model;
  ModelCard? _card;

  @override
  Future<ModelCard> load() async {
    final ModelCard card;
    try {
      card = ModelCard.parse(await rootBundle.loadString(modelCardAsset));
    } catch (error) {
      throw ClassifierException('The model card ($modelCardAsset) could not be read: $error');
    }
    try {
      _model = await PytorchLite.loadClassificationModel(
        modelAsset,
        card.width,
        card.height,
        card.numClasses,
        labelPath: labelsAsset,
      );
    } catch (error) {
      throw ClassifierException('The model could not be loaded: $error');
    }
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
    final stopwatch = Stopwatch()..start();
    final List<double> probabilities;
    try {
      probabilities = await model.getImagePredictionListProbabilities(
        imageBytes,
        mean: card.mean,
        std: card.std,
      );
    } catch (_) {
      throw const ClassifierException(
          'This image could not be decoded. Try another photo (JPEG or PNG).');
    }
    stopwatch.stop();
    return ClassificationResult(top: topK(probabilities, card.labels, 3), elapsed: stopwatch.elapsed);
  }
}
