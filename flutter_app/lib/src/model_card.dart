import 'dart:convert';

/// What this app does to a photo before the model sees it (preprocess.dart's appInput, after
/// photo_decode.dart): decode, squish the whole photo to the card's width x height (aspect not kept,
/// nearest neighbour), divide each 8-bit channel by 255, subtract the card's mean and divide by its std,
/// lay the RGB planes out as NCHW float32; it reads the model's raw output and computes the softmax
/// itself. A card that asks for anything else cannot be honoured on the phone, so [ModelCard.fromJson]
/// refuses it.
///
/// The pipeline checks the same contract before installing a model: APP_INPUT_CONTRACT, APP_SCALE and
/// APP_OUTPUT in src/paddy_edge/phone/contract.py (tests/app/test_flutter_app.py compares the two), and
/// paddy_edge.phone.preprocess.app_input is the mapping it names (test/preprocess_test.dart checks the
/// Dart side against cases that code generated).
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
    this.phone,
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
      phone: PhoneProgram.fromCard(json['phone']),
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

  /// Which ExecuTorch program the card describes (its `phone` section), or null on a card written
  /// before the section existed.
  final PhoneProgram? phone;

  int get numClasses => labels.length;
}

/// The card's `phone` section: the program the app runs (the pipeline installs it as model.pte), its
/// format (`executorch`, or `executorch_int8` only where export.phone_int8 asked for it), its sha256
/// and whether it is int8.
class PhoneProgram {
  const PhoneProgram({required this.format, required this.file, required this.sha256, required this.int8});

  /// Null when [section] is absent; throws a [FormatException] naming the key when it is malformed or
  /// names a program this app cannot run.
  static PhoneProgram? fromCard(Object? section) {
    if (section == null) {
      return null;
    }
    if (section is! Map<String, dynamic>) {
      throw FormatException('model card phone is ${jsonEncode(section)}, not a section');
    }
    final format = section['format'];
    final file = section['file'];
    if (format is! String || !format.startsWith('executorch')) {
      throw FormatException(
        'model card phone.format is ${jsonEncode(format)}, but this app runs ExecuTorch programs',
      );
    }
    if (file is! String || !file.endsWith('.pte')) {
      throw FormatException('model card phone.file is ${jsonEncode(file)}, not an ExecuTorch program (.pte)');
    }
    final int8 = section['int8'];
    if (int8 is! bool) {
      throw FormatException('model card phone.int8 is ${jsonEncode(int8)}, not true or false');
    }
    return PhoneProgram(format: format, file: file, sha256: section['sha256'] as String? ?? '', int8: int8);
  }

  final String format;
  final String file;
  final String sha256;
  final bool int8;

  /// "ExecuTorch fp32 (model.pte, sha256 0123abcd...)".
  String get describe {
    final digest = sha256.length > 12 ? '${sha256.substring(0, 12)}...' : sha256;
    return 'ExecuTorch ${int8 ? 'int8' : 'fp32'} ($file${digest.isEmpty ? '' : ', sha256 $digest'})';
  }
}

/// Throws a [FormatException] naming the first key of [card] that this app cannot honour.
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
