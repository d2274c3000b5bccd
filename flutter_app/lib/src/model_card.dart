import 'dart:convert';

/// What pytorch_lite 4.3.2 does to a photo before the model sees it (its lib/image_utils_isolate.dart):
/// decode, `copyResize` to the card's width x height (aspect not kept, nearest neighbour), divide each
/// 8-bit channel by 255, subtract the card's mean and divide by its std, lay the RGB planes out as NCHW
/// float32; it returns the model's raw output, on which this app computes the softmax. A card that asks
/// for anything else cannot be honoured on the phone, so [ModelCard.fromJson] refuses it.
///
/// The pipeline checks the same contract before installing a model: APP_INPUT_CONTRACT, APP_SCALE and
/// APP_OUTPUT in src/paddy_edge/app_assets.py (tests/app/test_flutter_app.py compares the two).
const Map<String, Object> appInputContract = {
  'channels': 3,
  'layout': 'NCHW',
  'resize': 'squish',
  'resample': 'nearest',
};
const double appInputScale = 1 / 255;
const String appOutput = 'logits';

/// What the pipeline's export stage says about the model: the app takes the input size, the
/// normalization and the labels from here, never from constants in Dart.
class ModelCard {
  const ModelCard({
    required this.name,
    required this.labels,
    required this.width,
    required this.height,
    required this.mean,
    required this.std,
    required this.placeholder,
  });

  /// Throws a [FormatException] whose message names the key when the card is malformed or asks for
  /// preprocessing or an output the app cannot honour.
  factory ModelCard.fromJson(Map<String, dynamic> json) {
    final input = json['input'];
    if (input is! Map<String, dynamic>) {
      throw const FormatException('model card has no "input" section');
    }
    final labels = (json['labels'] as List<dynamic>).cast<String>();
    final numClasses = json['num_classes'] as int;
    if (labels.length != numClasses) {
      throw FormatException('model card lists ${labels.length} labels for $numClasses classes');
    }
    checkAppContract(json);
    return ModelCard(
      name: json['name'] as String,
      labels: labels,
      width: _positive(input, 'width'),
      height: _positive(input, 'height'),
      mean: _triple(input, 'mean'),
      std: _triple(input, 'std'),
      placeholder: json['placeholder'] as bool? ?? false,
    );
  }

  factory ModelCard.parse(String source) =>
      ModelCard.fromJson(jsonDecode(source) as Map<String, dynamic>);

  final String name;
  final List<String> labels;
  final int width;
  final int height;
  final List<double> mean;
  final List<double> std;

  /// True for the untrained model committed so the app builds before any training.
  final bool placeholder;

  int get numClasses => labels.length;
}

/// Throws a [FormatException] naming the first key of [card] that pytorch_lite cannot honour.
void checkAppContract(Map<String, dynamic> card) {
  final input = card['input'] as Map<String, dynamic>;
  for (final entry in appInputContract.entries) {
    final value = input[entry.key];
    if (value != entry.value) {
      throw FormatException(
        'model card input.${entry.key} is ${jsonEncode(value)}, but this app can only feed '
        '${jsonEncode(entry.value)}: export the model with that preprocessing',
      );
    }
  }
  final scale = input['scale'];
  if (scale is! num || (scale - appInputScale).abs() > 1e-9) {
    throw FormatException(
      'model card input.scale is ${jsonEncode(scale)}, but this app scales pixels by 1/255',
    );
  }
  if (card['output'] != appOutput) {
    throw FormatException(
      'model card output is ${jsonEncode(card['output'])}, but this app expects "$appOutput" '
      '(it computes the softmax itself)',
    );
  }
}

int _positive(Map<String, dynamic> input, String key) {
  final value = input[key];
  if (value is! int || value <= 0) {
    throw FormatException('model card input.$key must be a positive integer, is ${jsonEncode(value)}');
  }
  return value;
}

List<double> _triple(Map<String, dynamic> input, String key) {
  final values = (input[key] as List<dynamic>).map((v) => (v as num).toDouble()).toList();
  if (values.length != 3) {
    throw FormatException('model card input.$key must have 3 values, has ${values.length}');
  }
  return values;
}
