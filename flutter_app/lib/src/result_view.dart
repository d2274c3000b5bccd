import 'package:flutter/material.dart';

import 'classifier.dart';

/// The top labels with their probabilities, and how long the phone took.
class ResultView extends StatelessWidget {
  const ResultView({super.key, required this.result});

  final ClassificationResult result;

  @override
  Widget build(BuildContext context) {
    return Column(
      crossAxisAlignment: CrossAxisAlignment.stretch,
      children: [
        for (final prediction in result.top)
          ListTile(
            title: Text(prediction.displayName),
            subtitle: LinearProgressIndicator(value: prediction.probability),
            trailing: Text('${(prediction.probability * 100).toStringAsFixed(1)}%'),
          ),
        Padding(
          padding: const EdgeInsets.only(top: 8),
          child: Text(
            'Inference: ${result.elapsed.inMilliseconds} ms on this phone',
            key: const Key('inference-time'),
            textAlign: TextAlign.center,
          ),
        ),
      ],
    );
  }
}
