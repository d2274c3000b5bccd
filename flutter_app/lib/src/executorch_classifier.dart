import 'dart:convert';
import 'dart:isolate';
import 'dart:typed_data';

import 'package:executorch_flutter/executorch_flutter.dart';
import 'package:flutter/services.dart' show rootBundle;

import 'classifier.dart';
import 'model_card.dart';
import 'photo_decode.dart';

/// Asset paths: the pipeline's `app-assets` command writes these, pubspec.yaml declares them.
const modelAsset = 'assets/models/model.pte';
const modelCardAsset = 'assets/models/model_card.json';
const labelsAsset = 'assets/labels/labels.txt';

/// A 1x1 grey PNG: run once through the whole path (decode, preprocessing, inference) right after
/// loading, so the model's first-run set-up (XNNPACK packs its weights on the first forward) is not
/// counted in the first "Inference: N ms" the person sees, and so a model that cannot run fails at
/// start-up rather than on the first photo.
final Uint8List warmUpPng = Uint8List.fromList(const [
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
  0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x68, 0x68, 0x68, 0x00,
  0x00, 0x03, 0x04, 0x01, 0x81, 0x75, 0x2e, 0x01, 0xbc, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
  0x44, 0xae, 0x42, 0x60, 0x82,
]);

/// What the person should read when ExecuTorch fails on a photo. executorch_flutter (through
/// executorch_dart, on dart:ffi) throws an [ExecuTorchException] subclass for each native status: a
/// tensor the program does not accept (validation), memory, a failed run, ... A photo that cannot be
/// decoded never gets this far: [preparePhoto] throws [ImageDecodeException] first.
ClassifierException describeInferenceFailure(Object error) {
  if (error is ClassifierException) {
    return error;
  }
  if (error is ExecuTorchException) {
    final String what;
    if (error is ExecuTorchMemoryException) {
      what = 'out of memory';
    } else if (error is ExecuTorchValidationException) {
      what = 'the input does not fit the model';
    } else if (error is ExecuTorchModelException) {
      what = 'the model is not usable';
    } else if (error is ExecuTorchInferenceException) {
      what = 'inference failed';
    } else {
      what = 'ExecuTorch error';
    }
    return InferenceException('The model could not run on this photo ($what: ${error.message}).');
  }
  return InferenceException('The model could not run on this photo ($error).');
}

/// The gated ExecuTorch program (model.pte, XNNPACK), run by executorch_flutter. The photo is decoded
/// and preprocessed here, in Dart, exactly as the pipeline evaluates (paddy_edge.phone.preprocess
/// .app_input; [appInput]), with the size, mean and std from the card, which [ModelCard] checks asks for
/// that preprocessing. The model's raw scores go through a stable softmax here.
class ExecuTorchClassifier implements Classifier {
  ExecuTorchModel? _model;
  ModelCard? _card;

  @override
  Future<ModelCard> load() async {
    final card = await _readCard();
    await _checkLabels(card);
    await dispose();
    final ExecuTorchModel model;
    try {
      model = await loadModelFromAsset(modelAsset);
    } on ExecuTorchException catch (error) {
      throw ClassifierException('The model ($modelAsset) could not be loaded: ${error.message}');
    } catch (error) {
      throw ClassifierException('The model ($modelAsset) could not be loaded: $error');
    }
    final List<double> scores;
    try {
      scores = await _scores(model, card, await _prepare(warmUpPng, card));
    } catch (error) {
      await model.dispose();
      throw ClassifierException(
        'The model loaded but could not run: ${describeInferenceFailure(error).message}',
      );
    }
    if (scores.length != card.numClasses) {
      await model.dispose();
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
    final stopwatch = Stopwatch()..start();
    final input = await _prepare(imageBytes, card);
    final List<double> logits;
    try {
      logits = await _scores(model, card, input);
    } catch (error) {
      throw describeInferenceFailure(error);
    }
    final probabilities = softmax(logits);
    stopwatch.stop();
    return ClassificationResult(top: topK(probabilities, card.labels, 3), elapsed: stopwatch.elapsed);
  }

  /// Frees the native program; [load] loads it again.
  Future<void> dispose() async {
    final model = _model;
    _model = null;
    _card = null;
    if (model != null && !model.isDisposed) {
      await model.dispose();
    }
  }

  Future<ModelCard> _readCard() async {
    final Map<String, dynamic> json;
    try {
      json = jsonDecode(await rootBundle.loadString(modelCardAsset)) as Map<String, dynamic>;
    } catch (error) {
      throw ClassifierException('The model card ($modelCardAsset) could not be read: $error');
    }
    try {
      return ModelCard.fromJson(json);
    } on FormatException catch (error) {
      throw ClassifierException(
        'This app cannot use the installed model: ${error.message} ($modelCardAsset).',
      );
    } catch (error) {
      throw ClassifierException('The model card ($modelCardAsset) is malformed: $error');
    }
  }

  /// labels.txt travels with the card (`app-assets` checks them against each other); a mismatch here
  /// means the assets were replaced by hand.
  Future<void> _checkLabels(ModelCard card) async {
    final String text;
    try {
      text = await rootBundle.loadString(labelsAsset);
    } catch (error) {
      throw ClassifierException('The labels ($labelsAsset) could not be read: $error');
    }
    if (!_sameLabels(text.split('\n'), card.labels)) {
      throw const ClassifierException(
        '$labelsAsset does not match $modelCardAsset: install a model, card and labels exported together.',
      );
    }
  }
}

bool _sameLabels(List<String> a, List<String> b) {
  if (a.length != b.length) {
    return false;
  }
  for (var i = 0; i < a.length; i++) {
    if (a[i] != b[i]) {
      return false;
    }
  }
  return true;
}

/// Decoding and preprocessing take a few hundred milliseconds on a phone: off the UI isolate.
Future<Float32List> _prepare(Uint8List photo, ModelCard card) {
  final width = card.width;
  final height = card.height;
  final mean = card.mean;
  final std = card.std;
  return Isolate.run(() => preparePhoto(photo, width, height, mean, std));
}

/// One forward pass: the NCHW float32 [input] in, the logits of the program's first output out.
Future<List<double>> _scores(ExecuTorchModel model, ModelCard card, Float32List input) async {
  final tensor = TensorData(
    shape: [1, 3, card.height, card.width],
    dataType: TensorType.float32,
    data: input.buffer.asUint8List(input.offsetInBytes, input.lengthInBytes),
    name: 'input',
  );
  final outputs = await model.forward([tensor]);
  if (outputs.isEmpty) {
    throw const InferenceException('The model returned no output.');
  }
  final output = outputs.first;
  if (output.dataType != TensorType.float32) {
    throw InferenceException(
      'The model returned ${output.dataType.displayName} scores; this app reads float32 logits.',
    );
  }
  final bytes = ByteData.sublistView(output.data);
  return [for (var i = 0; i + 4 <= bytes.lengthInBytes; i += 4) bytes.getFloat32(i, Endian.little)];
}
