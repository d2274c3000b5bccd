import 'dart:convert';

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

  factory ModelCard.fromJson(Map<String, dynamic> json) {
    final input = json['input'] as Map<String, dynamic>;
    final labels = (json['labels'] as List<dynamic>).cast<String>();
    final numClasses = json['num_classes'] as int;
    if (labels.length != numClasses) {
      throw FormatException('model card lists ${labels.length} labels for $numClasses classes');
    }
    return ModelCard(
      name: json['name'] as String,
      labels: labels,
      width: input['width'] as int,
      height: input['height'] as int,
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

List<double> _triple(Map<String, dynamic> input, String key) {
  final values = (input[key] as List<dynamic>).map((v) => (v as num).toDouble()).toList();
  if (values.length != 3) {
    throw FormatException('model card input.$key must have 3 values, has ${values.length}');
  }
  return values;
}
